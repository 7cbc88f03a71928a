"""Every id Slack sends back to us: commands, callbacks, blocks and actions, in one place.

manifest.yaml declares the command and the shortcuts; a test checks the two agree.
"""

from __future__ import annotations

from enum import StrEnum

COMMAND = "/incident"


class Callback(StrEnum):
    DECLARE_MODAL = "firewatch_declare"
    DECLARE_SHORTCUT = "firewatch_declare_shortcut"


class Block(StrEnum):
    TITLE = "title"
    SEVERITY = "severity"
    NATURE = "nature"
    DISCOVERY = "discovery"
    IMPACT = "impact"
    EVIDENCE = "evidence"
    SERVICE = "service"


# Inputs carry one element each; the element's action_id is always this.
VALUE = "value"

# Events API types the app subscribes to (manifest: settings.event_subscriptions.bot_events).
EVENTS = ("app_mention",)
