"""What Firewatch says to people, in one place."""

from __future__ import annotations

from bot.domain.incident import Incident
from bot.domain.policy import Policy

NOT_AN_INCIDENT_CHANNEL = (
    "`/incident {command}` works in an incident's channel. Run it there, or see `/incident list`."
)
DRAFT_EXPIRED = "This form has expired. Close it and declare again."
REASON_REQUIRED = "Say why it should be declared although the checklist does not qualify."
ANYWAY_NOT_ALLOWED = "The policy does not allow declaring when the checklist does not qualify."
INCIDENT_GONE = "This incident no longer exists."

UNKNOWN_SUBCOMMAND = "I don't know `/incident {sub}`. Here is what I can do:\n\n{help}"

OPENING_FORM = "Opening the incident form…"

INTERNAL_ERROR = (
    "Something went wrong on Firewatch's side and nothing was changed. "
    "Please try again; if it keeps failing, give your admin this reference: `{ref}`."
)

CHANNEL_FALLBACK_NOTE = (
    "Firewatch could not create a channel for {ref} ({reason}). "
    "The incident is recorded; coordinate in this thread."
)

NO_CHANNEL_NOTE = "{label} incidents do not get their own channel; coordinate in this thread."


def announcement_text(incident: Incident, policy: Policy, *, mrkdwn: bool = False) -> str:
    """The policy's announcement template filled in; `mrkdwn` escapes the reporter's words
    and links the channel and reporter, the plain form is for notifications."""
    severity = policy.severities.get(incident.severity)
    title = escape(incident.title) if mrkdwn else incident.title
    if mrkdwn:
        channel = f"<#{incident.channel_id}>" if incident.channel_id else "this thread"
        reporter = f"<@{incident.reporter_id}>"
    else:
        channel = f"#{incident.channel_name}" if incident.channel_name else "the thread"
        reporter = incident.reporter_id
    return policy.templates.announcement.format(
        ref=incident.ref,
        number=incident.id,
        title=title,
        severity=severity.label if severity else incident.severity,
        channel=channel,
        reporter=reporter,
    )


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: user text must not become links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- answers of the /incident subcommands, buttons and forms (bot/slack/listeners) ------

HELP_INTRO = "*Firewatch* — incident response, by your team's policy."
HELP_LINE = "• `/incident {usage}` — {help}"
HELP_SELF = "• `/incident help` — this list"
OPEN_INCIDENTS = "{count} open incidents"
RACI_CHART = "RACI chart"

NOTED = "Noted on {ref}'s timeline."
NOTED_AS = "Noted on {ref}'s timeline as entry #{seq}."
NOT_A_STATUS = "`{word}` is not a status. Use one of: {valid}."
STATUS_NOW = "{ref} is now {status}."
NO_SUCH_INCIDENT = "There is no {ref}."
TIMELINE_OF = "Timeline of {ref}"
CAPTURED = "Added to {ref}'s timeline."
ALREADY_CAPTURED = "Already on {ref}'s timeline."
NO_OPEN_INCIDENT = "There is no open incident."
CHANGE_GONE = "That change no longer exists."

INCIDENT_ROLES = "Incident roles"
AWAY_USAGE = (
    "Say until when: `/incident away until 17:00` (or `tomorrow`, `monday`, `3d`); "
    "`/incident away off` when you are back."
)
WELCOME_BACK = "Welcome back: you will be paged again for your roles."
AWAY_UNTIL = "You are away until {until}: pages for your roles go to your backup."
PAGE_USAGE = "Page whom? `/incident page <role or @person> [message]`"
PAGING = "Paging <@{person}>."
ASSIGN_USAGE = "Usage: `/incident assign <role> @person`"
ASSIGNED = "<@{person}> now holds the role for this incident and is being paged."

ALREADY_STATUS = "{ref} is already {status}."
NO_POSTMORTEM_YET = "There is no post-mortem yet: it is asked for when the incident is resolved."
ITEM_OWNER_MISSING = "Who owns this action?"
ITEM_DUE_MISSING = "When is it due?"
POSTMORTEM_GONE = "That post-mortem no longer exists."
POSTMORTEM_APPROVED = "The post-mortem of {ref} is approved."
POSTMORTEM_SENT_BACK = "The post-mortem of {ref} is sent back for changes."
OPEN_ACTION_ITEMS = "{count} open action items"
ITEM_DONE = "Marked done."
ITEM_ALREADY_DONE = "That action item is already done."
