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
    PAGE_ACKNOWLEDGE = "firewatch_page_ack"  # on the page DM and its channel copy; value: page id
    HOME_DECLARE = "firewatch_home_declare"  # App Home: opens the declare modal
    HOME_AWAY = "firewatch_home_away"  # App Home: value "away" or "back"
    # An alert card's buttons (issue 22); value: the alert group id. The URL buttons
    # (source, dashboard, runbook) only open a link; Slack still sends their action.
    ALERT_ACKNOWLEDGE = "firewatch_alert_ack"
    ALERT_DECLARE = "firewatch_alert_declare"
    ALERT_LINK = "firewatch_alert_link"
    ALERT_SILENCE = "firewatch_alert_silence"
    ALERT_OPEN_LINK = "firewatch_alert_open_link"


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
    REPORT_ACTIONS = "report_actions"  # the buttons under an incident report


# Checklist inputs are one block per group: "checklist__<group key>".
CHECKLIST_BLOCK_PREFIX = "checklist__"


class Decision(StrEnum):
    RECORD = "record_non_incident"
    DECLARE_ANYWAY = "declare_anyway"


# Inputs carry one element each; the element's action_id is always this.
VALUE = "value"


class Event(StrEnum):
    """Events API types the app subscribes to (manifest: event_subscriptions.bot_events)."""

    REACTION_ADDED = "reaction_added"
    REACTION_REMOVED = "reaction_removed"
    APP_HOME_OPENED = "app_home_opened"


EVENTS = tuple(Event)


class TimelineIds:
    """The timeline, status update and emergency change forms and buttons."""

    STATUS_MODAL = "firewatch_status"
    CHANGE_MODAL = "firewatch_change"
    CAPTURE_MODAL = "firewatch_capture"
    ADD_TO_TIMELINE = "firewatch_add_to_timeline"  # message shortcut
    CHANGE_STEP = "firewatch_change_step"  # action ids: firewatch_change_step_<step>
    TIMELINE_PAGE = "firewatch_timeline_page"  # the prefix of PAGE_PREV and PAGE_NEXT
    PAGE_PREV = "firewatch_timeline_page_prev"
    PAGE_NEXT = "firewatch_timeline_page_next"
    # blocks
    STATUS = "status"
    UPDATE = "update"
    INCIDENT = "incident"
    SUMMARY = "summary"
    PLAN = "plan"
    ROLLBACK = "rollback_plan"
    RISK = "risk"
    HANDLING = "handling"
    TIMELINE_PAGES = "timeline_pages"


class PickerIds:
    """The incident picker: a command typed outside an incident channel asks which one."""

    MODAL = "firewatch_incident_picker"
    RESULT_MODAL = "firewatch_incident_picker_done"
    INCIDENT = "picker_incident"  # the input block
    SELECT = "firewatch_pick_incident"  # its external_select: options load on this action id


class AlertFormIds:
    """The forms an alert card's Declare, Link and Silence buttons open (issue 22)."""

    DECLARE_MODAL = "firewatch_alert_declare_form"  # the declare form, prefilled
    NOT_AN_INCIDENT_MODAL = "firewatch_alert_not_an_incident"  # pushed over it
    LINK_MODAL = "firewatch_alert_link_form"  # incident: PickerIds.INCIDENT / SELECT
    SILENCE_MODAL = "firewatch_alert_silence_form"
    DURATION = "silence_duration"
    REASON = "silence_reason"


class StatusPageIds:
    """The status page's inputs in the declare, status and resolve forms, and the
    maintenance form (issue 24)."""

    COMPONENTS = "components"  # multi_static_select of the policy's components
    COMPONENT_STATE = "component_state"  # static_select: how they are affected
    PUBLIC_UPDATE = "public_update"  # what the status page says
    MAINTENANCE_MODAL = "firewatch_maintenance"
    MAINTENANCE_TITLE = "maintenance_title"
    STARTS = "starts_at"  # datetimepicker
    ENDS = "ends_at"  # datetimepicker


class PmIds:
    """The resolve and post-mortem forms."""

    RESOLVE_MODAL = "firewatch_resolve"
    POSTMORTEM_MODAL = "firewatch_postmortem"
    SUMMARY = "summary"
    ROOT_CAUSE = "root_cause"
    IMPACT = "impact"
    SUBMIT = "submit"

    @staticmethod
    def answer(key: str) -> str:
        return f"assess__{key}"

    @staticmethod
    def note(key: str) -> str:
        return f"assess_note__{key}"

    @staticmethod
    def item(n: int, part: str) -> str:
        return f"item_{n}_{part}"


def change_step_action(step: str) -> str:
    """An emergency change's step button (`approve`, `reject`, …); value: `<change id>:<step>`."""
    return f"{TimelineIds.CHANGE_STEP}_{step}"


def change_block_id(change_id: int) -> str:
    """The buttons under an emergency change's message."""
    return f"change_{change_id}"


def page_block_id(page_id: int) -> str:
    """The Acknowledge button's block on a page DM and its channel copy."""
    return f"page_{page_id}"


# The weekly digest's post-mortems to review: one actions block each. In the meeting's
# digest it says which meeting and post-mortem its agenda checkboxes answer for.
MEETING_BLOCK = "fw_meeting"  # block_id: fw_meeting|<meeting>|<post-mortem id>
REVIEW_BLOCK = "fw_review"  # block_id in a preview: fw_review|<post-mortem id>


def meeting_block_id(meeting: str, postmortem_id: int) -> str:
    return f"{MEETING_BLOCK}|{meeting}|{postmortem_id}"


def review_block_id(postmortem_id: int) -> str:
    return f"{REVIEW_BLOCK}|{postmortem_id}"


def parse_meeting_block_id(block_id: str) -> tuple[str, int] | None:
    """(meeting, post-mortem id) from a meeting block's id; None for any other block."""
    prefix, _, rest = block_id.partition("|")
    meeting, _, raw_id = rest.rpartition("|")
    if prefix != MEETING_BLOCK or not meeting or not raw_id.isdigit():
        return None
    return meeting, int(raw_id)
