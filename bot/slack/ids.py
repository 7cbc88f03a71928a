"""Every id Slack sends back to us: commands, callbacks, blocks and actions, in one place.

manifest.yaml declares the command and the shortcuts; a test checks the two agree.
"""

from __future__ import annotations

from enum import StrEnum

COMMAND = "/incident"


class Callback(StrEnum):
    DECLARE_MODAL = "firewatch_declare"
    DECLARE_SHORTCUT = "firewatch_declare_shortcut"
    NOT_AN_INCIDENT_MODAL = "firewatch_not_an_incident"
    CHECKLIST_MODAL = "firewatch_checklist"
    SEVERITY_MODAL = "firewatch_severity"


class Action(StrEnum):
    CHANGE_SEVERITY = "firewatch_change_severity"
    WRITE_POSTMORTEM = "firewatch_pm_write"
    POSTMORTEM_APPROVE = "firewatch_pm_approve"  # value: post-mortem id
    POSTMORTEM_CHANGES = "firewatch_pm_changes"  # value: post-mortem id
    FOLLOWUP_DONE = "firewatch_followup_done"  # value: action item id
    MEETING_AGENDA = "firewatch_meeting_agenda"  # checkboxes in the weekly digest


class Block(StrEnum):
    TITLE = "title"
    SEVERITY = "severity"
    NATURE = "nature"
    DISCOVERY = "discovery"
    IMPACT = "impact"
    EVIDENCE = "evidence"
    SERVICE = "service"
    DECISION = "decision"
    REASON = "reason"
    NEW_SEVERITY = "new_severity"


# Checklist inputs are one block per group: "checklist__<group key>".
CHECKLIST_BLOCK_PREFIX = "checklist__"


class Decision(StrEnum):
    RECORD = "record_non_incident"
    DECLARE_ANYWAY = "declare_anyway"


# Inputs carry one element each; the element's action_id is always this.
VALUE = "value"

# Events API types the app subscribes to (manifest: settings.event_subscriptions.bot_events).
EVENTS = ("reaction_added", "reaction_removed")
