"""What Firewatch says to people, in one place: answers, notices, and the words of its
messages and forms. A template's `{fields}` are filled with str.format by the code that
sends it; the Block Kit builders (bot/slack/blocks) escape user text before it goes into
a mrkdwn template. Short field labels and button captions stay beside their layout."""

from __future__ import annotations

# long: every sentence Firewatch says, in one place, so the wording is read and kept together.

NOT_AN_INCIDENT_CHANNEL = (
    "`/incident {command}` works in an incident's channel. Run it there, or see `/incident list`."
)
DRAFT_EXPIRED = "This form has expired. Close it and declare again."
REASON_REQUIRED = "Say why it should be declared although the checklist does not qualify."
ANYWAY_NOT_ALLOWED = "The policy does not allow declaring when the checklist does not qualify."
INCIDENT_GONE = "This incident no longer exists."
PICKER_TITLE, PICKER_LABEL, PICKER_SUBMIT = "Which incident?", "Incident", "Run"
PICKER_DONE_TITLE, PICKER_CLOSE = "Done", "Close"
PICKER_PLACEHOLDER = "Type a number or words of the title"
PICKER_INTRO = "`/incident {command}` needs an incident: it runs as if typed in its channel."
PICKER_TYPED = "You typed: `/incident {text}`"
PICKER_EXPIRED = "This form has expired: type the command again."
PICKER_NO_CHANNEL = "{ref} has no channel to run this in."

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
# The live incident channel (bot/slack/blocks/live_channel.py): topic and bookmarks.
TOPIC_LEAD = "lead {lead}"
TOPIC_NO_LEAD = "no lead"
TOPIC_RESPOND_BY = "respond by {when}"
BOOKMARK_REPORT = "Incident report"
BOOKMARK_ALERT = "Source alert"
BOOKMARK_POSTMORTEM = "Post-mortem"
ARCHIVE_NOTICE = "Archiving this channel in {days} days."
ARCHIVE_NOTICE_ONE = "Archiving this channel in 1 day."
ARCHIVE_NOTICE_NOW = "Archiving this channel now."
FAILS_BOOKMARKS = "the incident channel's bookmarks (report, source alert, post-mortem)"
FAILS_TOPIC = "the incident channel's topic (severity, status, lead, response deadline)"
FAILS_RENAME = "renaming the incident channel when its title changes (`/incident title`)"


# --- answers of the /incident subcommands, buttons and forms (bot/slack/listeners) ------

HELP_INTRO = "*Firewatch* — incident response, by your team's policy."
HELP_LINE = "• `/incident {usage}` — {help}"
HELP_SELF = "• `/incident help` — this list"
OPEN_INCIDENTS = "{count} open incidents"
RACI_CHART = "RACI chart"

NOTED = "Noted on {ref}'s timeline."
NOT_A_STATUS = "`{word}` is not a status. Use one of: {valid}."
STATUS_NOW = "{ref} is now {status}."
TITLE_NOW = "{ref} is now titled “{title}”; the channel follows."
HELP_TITLE = "give the incident a new title (its channel is renamed to match)"
NO_SUCH_INCIDENT = "There is no {ref}."
TIMELINE_OF = "Timeline of {ref}"
CAPTURED = "Added to {ref}'s timeline."
ALREADY_CAPTURED = "Already on {ref}'s timeline."
NO_OPEN_INCIDENT = "There is no open incident."
# A capture (📌 or the shortcut) that could not be completed: the person is told why.
CAPTURE_DELETED = "Could not add that message to {ref}'s timeline: it was deleted."
CAPTURE_NO_ACCESS = (
    "Could not add that message to {ref}'s timeline: Firewatch cannot read that"
    " conversation. Invite Firewatch there, then add it again."
)
CAPTURE_INCIDENT_GONE = "Could not add that message to the timeline: {ref} no longer exists."
CAPTURE_GAVE_UP = (
    "Could not add that message to {ref}'s timeline: Slack did not answer. Try again later."
)
CAPTURE_FORM_EXPIRED = "This form has expired: use “Add to incident timeline” on the message again."
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


# --- Block Kit: what the messages and forms say (bot/slack/blocks) --------------------------

NOBODY = "nobody"
SOMEONE = "someone"
NONE = "none"

# an incident's announcement, report and list
THIS_THREAD = "this thread"
THE_THREAD = "the thread"
REPORT_TITLE = "Incident report · {ref}: {title}"
CHANGE_SEVERITY = "Change severity"
VERDICT_QUALIFIES = "*Verdict:* qualifies as an incident"
VERDICT_FAILS = "*Verdict:* does not qualify — {failures}"
DECLARED_ANYWAY = "*Declared anyway:* {reason}"
# A declaration whose severity a policy reload removed before it was made (issue 21 item 4):
# the report's mark, and what the reporter is told.
NEEDS_TRIAGE = (
    "*Needs triage:* declared as {severity} because the severity chosen, {submitted},"
    " is no longer in the policy. Set the right one with “Change severity”."
)
DECLARED_WITH_FALLBACK = (
    "{ref} was declared as {severity}, not {submitted}: that severity was removed from the"
    " policy before your declaration was made. It is marked *needs triage*; set the right"
    " severity from the incident report."
)
NO_OPEN_INCIDENTS = "No open incidents. :tada:"
OPEN_INCIDENTS_HEADING = "*Open incidents ({count})*"
LIST_LINE = "*{ref}* {title} · {severity} · {status} · {age} old · {due} {channel}"
NO_DEADLINE = "no deadline"
TIME_LEFT = "{age} left"
OVERDUE_BY = "*overdue by {age}*"

# the declare form, the checklist, severity
DECLARE_TITLE = "Declare an incident"
CHECKLIST_TITLE = "Incident checklist"
CHECKLIST_INTRO = (
    "*{label}* Tick what is true. It is an incident only when every numbered item holds."
)
CHECKLIST_ANY = "any of"
CHECKLIST_ALL = "all of"
CHECKLIST_QUALIFIES = (
    ":white_check_mark: *This is an incident under the policy.* "
    "Declare it with `/incident declare`."
)
CHECKLIST_DOES_NOT_QUALIFY = ":information_source: *This is not an incident under the policy.*"
CHECKLIST_NOTHING_RECORDED = "Nothing was recorded. Only you see this."
NOT_AN_INCIDENT_TITLE = "Not an incident?"
NOT_AN_INCIDENT_VERDICT = "*By your answers this is not an incident under the policy.*"
NOT_AN_INCIDENT_BACK = "Press *Back* to change your answers, or choose below."
NOT_AN_INCIDENT_QUESTION = "What should Firewatch do?"
RECORD_CHOICE = "Record it as a non-incident report"
RECORD_CHOICE_HINT = "Stored and listed in the weekly review; nobody is paged"
ANYWAY_CHOICE = "Declare it anyway"
ANYWAY_CHOICE_HINT = "Needs a reason; it is recorded on the timeline"
ANYWAY_REASON = "Reason to declare anyway"
ANYWAY_REASON_HINT = "Required when declaring anyway."

# the timeline, status updates, emergency changes
STATUS_TITLE = "Status update"
CURRENT_STATUS = "Now: *{status}*"
CHANGE_TITLE = "Emergency change"
CHANGE_FOR = "Emergency change for *{ref}* {title}"
HANDLING_QUESTION = "Handling checklist: tick each that holds"
CAPTURE_TITLE = "Add to timeline"
WHICH_INCIDENT = "Which incident?"
TIMELINE_HEADING = "*Timeline of {ref}* — entries {first}–{last} of {total}"
# A person's words cut to fit a message, and where to read all of them (Slack refuses a
# section over 3,000 characters; notes may be 40,000).
TRUNCATED_ENTRY = "… _(truncated: `/incident timeline {ref} #{seq}` shows all of it)_"
TRUNCATED = "… _(truncated: the incident's export shows all of it)_"
TIMELINE_ENTRY = "*{ref}* entry `#{seq}` · {at} · {who} · {size} characters"
NO_SUCH_ENTRY = "{ref} has no timeline entry #{seq}."
CHANGE_TEXT = "{ref} for {incident}: {summary} ({status})"
CHANGE_HEADING = ":wrench: *{ref}* {summary} — *{status}*\nProposed by <@{user}> for {incident}"
CHANGE_STEP_DONE = "• {step} by <@{user}>"
CHANGE_DECIDERS = "Only the {role} (or whoever acts as {role}) can approve or reject."

# paging
RESPONDER = "responder"
BROADCAST_CHANNEL = "the broadcast channel"
PAGE_DM_TEXT = "You are paged as {role} for {ref} ({severity}): {title}"
PAGE_DM_HEADING = ":pager: You are paged as *{role}* for *{ref}: {title}*"
PAGE_DM_TERMS = "*Severity:* {severity} · *Acknowledge by:* {ack_by} · *Response due:* {due}"
PAGE_DM_CHANNEL = "*Channel:* {channel}"
PAGE_DM_FROM = "*From <@{user}>:*"
PAGE_POSTED_TEXT = "{ref}: paged {role} <@{user}>"
PAGE_POSTED = ":pager: Paged <@{user}> as *{role}* · acknowledge by {ack_by}"
PAGE_ACKNOWLEDGED = ":white_check_mark: Acknowledged by {who} {when}"
PAGE_ESCALATED = (
    ":arrow_up: No acknowledgement in time; <@{user}> was paged next. You can still acknowledge."
)
PAGE_UNANSWERED = ":warning: Unanswered: nobody is left to page. You can still acknowledge."
PAGE_CLOSED = "The incident ended before the page was acknowledged."
PAGE_UNANSWERED_TEXT = "{ref} ({severity}): the page for {role} is unanswered"
PAGE_UNANSWERED_NOTICE = (
    ":rotating_light: *{ref}* ({severity}) {title}: the page for *{role}* is unanswered.{channel}"
)
BREACH_TEXT = "{ref} ({severity}) breached its response time"
BREACH_NOTICE = (
    ":warning: *{ref}* ({severity}) {title}: the response deadline {deadline} passed "
    "without an acknowledgement."
)
CHOSEN_PER_INCIDENT = "chosen per incident"
ROSTER_LINE = "• *{title}* (`{key}`): {people} — acting now: {now}{extra}"
ROSTER_ASSIGNED = " · this incident: <@{user}>"
AWAY = "Away"
AWAY_LINE = "• <@{user}> until {until}"

# resolving, post-mortems, action items
RESOLVE_TITLE = "Resolve incident"
RESOLVE_HEADING = "Resolve *{ref}* {title}"
RESOLUTION_SUMMARY_HINT = "What fixed it. A post-mortem is then asked of its owner."
POSTMORTEM_TITLE = "Post-mortem"
FACTS_TIMES = (
    "*Declared* {declared} · *Acknowledged* {acknowledged} · *Mitigated* {mitigated}"
    " · *Resolved* {resolved}"
)
FACTS_COUNTS = (
    "*MTTA* {mtta} · *MTTR* {mttr} · *Pages* {pages} ({escalations} escalations)"
    " · *Changes* {changes}"
)
FOLLOW_UP_HEADING = "*Follow-up recommendations* (action items)"
SUBMIT_CHOICE = "Submit for approval (otherwise saved as a draft)"
POSTMORTEM_REQUEST_TEXT = "Please write the post-mortem of {ref}: {title}"
POSTMORTEM_REQUEST = (
    ":memo: {ref} *{title}* is resolved. Please write its post-mortem: root cause, actual "
    "impact and follow-up recommendations. Due {due}, before the weekly post-mortem meeting."
)
ITEM_LINE = "• {text} — <@{owner}>, due {due} ({status})"
POSTMORTEM_SUBMITTED = "Post-mortem of {ref} submitted for approval"
CHANGES_REQUESTED = "<@{user}> asked for changes to the post-mortem of {ref}."
CHANGES_REQUESTED_WITH_NOTE = "<@{user}> asked for changes to the post-mortem of {ref}: {note}"
POSTMORTEM_APPROVER = "Only the {role} can approve."
FINAL_REPORT_TITLE = "Final report · {ref}: {title} (closed)"
POSTMORTEM_APPROVED_BY = "Approved by <@{user}>."
NO_OPEN_ACTION_ITEMS = "No open action items. :tada:"
OPEN_ACTION_ITEMS_HEADING = "*Open action items ({count})*"
FOLLOWUP_LINE = "{incident} · {text} · <@{owner}> · due {due}{overdue}"
OVERDUE_FLAG = " *overdue*"

# the weekly digest and the reminders
DIGEST_TITLE = "Weekly incident review"
DIGEST_PREVIEW = " (preview)"
DIGEST_PREVIEW_NOTE = " · only you can see this preview"
DIGEST_TEXT = "{title}: {incidents} incidents, {postmortems} post-mortems to review"
DIGEST_QUIET = "Nothing to review: no incident, report or open follow-up."
DIGEST_INCIDENTS = "*Incidents declared* ({count})"
DIGEST_NO_INCIDENTS = "*Incidents declared*: none"
DIGEST_RESPONSE_TIMES = "*Response times* against the previous period"
BEFORE = "before {duration}"
DIGEST_BREACHES = "Response-time breaches"
DIGEST_BREACH_LINE = "{incident} ({severity}) — no acknowledgement by {deadline}"
DIGEST_OWED = "Post-mortems not submitted"
DIGEST_OVERDUE = "Overdue action items"
DIGEST_NON_INCIDENTS = "Non-incident reports"
DIGEST_REPORTED_BY = "{incident} — by <@{user}>"
AND_MORE = "… and {count} more"
AND_N_MORE = ", … {count} more"
NOT_REQUESTED_YET = "not requested yet"
DUE_ON = ", due {day}"
OVERDUE_MARK = " — *overdue*"
OVERDUE_ITEM_LINE = "*{ref}* {text} — <@{owner}>, due {day} ({days} late)"
ONE_DAY = "{count} day"
DAYS = "{count} days"
SUBMITTED_BY = " — submitted by <@{user}> {when}"
NOTHING_TO_REVIEW = "*Post-mortems to review*: none"
TO_REVIEW = "*Post-mortems to review* ({count})"
APPROVAL_BY = " — approval: {role}"
AGENDA_HOWTO = "\nFor each, the meeting asks the agenda's questions; tick those that apply."
MORE_TO_REVIEW = "… and {count} more post-mortems to review: {refs}"
ON_DATE = " on {date}"
POSTED_LATE = "Posted late: Firewatch was down at {when}"
POSTMORTEM_REMINDER_TEXT = "Reminder: {count} post-mortem(s) of yours are not submitted yet"
POSTMORTEM_REMINDER = (
    "*The weekly post-mortem review is{when}.* These post-mortems are yours and not "
    "submitted yet; submit them before the meeting so they can be reviewed."
)
FOLLOWUP_REMINDER_TEXT = "Reminder: {count} action item(s) of yours are overdue"
FOLLOWUP_REMINDER = "*These post-mortem action items are overdue:*"
MORE_OVERDUE = "… and {count} more: `/incident followups`"

# -- who may do what (issue 20) ------------------------------------------------------------
# A refusal: "Only {who} may {doing}.", or, when one role alone may, the RACI wording.
REFUSED = "Only {who} may {doing}."
REFUSED_ROLE = "Only the {title} can {doing}; acting {title} now: {who}."
REFUSED_NOBODY = "nobody"
ROLE_VACANT = "nobody (the role is vacant)"
PARTY_ROLE = "the {title}"
PARTY_WITH_PEOPLE = "{name} ({people})"
PARTY_NOBODY_NOW = "{name} (nobody now)"
PARTY_OR = " or "
PARTY_NAMES = {
    "irt": "the Incident Response Team",
    "incident_responders": "the people assigned or paged for this incident",
    "reporter": "the reporter",
    "paged_person": "the person paged and their role's backups",
    "owner": "its owner",
    "members": "full members of the workspace",
    "channel_members": "people in the incident's channel",
    "guests": "guests",
    "external": "people of other organisations",
}
# What each action is, completing "Only … may …" (keys: bot.domain.permissions.Action).
DOING = {
    "declare": "declare an incident",
    "assign_role": "assign incident roles",
    "change_severity": "change the severity",
    "change_status": "change the status",
    "resolve": "resolve the incident",
    "page": "page people",
    "acknowledge": "acknowledge this page",
    "acknowledge_alert": "acknowledge this alert",
    "silence_alert": "silence alerts",
    "link_alert": "link alerts to this incident",
    "propose_change": "propose a change",
    "approve_change": "approve a change",
    "reject_change": "reject a change",
    "apply_change": "apply a change",
    "verify_change": "verify a change",
    "validate_change": "validate a change",
    "roll_back_change": "roll back a change",
    "write_postmortem": "write the post-mortem",
    "submit_postmortem": "submit the post-mortem",
    "approve_postmortem": "review a post-mortem",
    "complete_action_item": "mark this action item done",
    "read_timeline": "read this timeline",
    "capture": "add messages to this timeline",
    "export": "export this incident",
    "reload_roster": "reload the roster",
    "retitle": "retitle the incident",
    "set_component_state": "set a component's state on the status page",
    "schedule_maintenance": "schedule or cancel maintenance on the status page",
}
DIGEST_MEMBERS_ONLY = (
    "The digest covers every incident: only full members of the workspace may read it."
)


# `/incident help`: what each subcommand does (bot/slack/subcommands.py Subcommand.help)
HELP_DECLARE = "declare an incident (a form with the checklist)"
HELP_CHECKLIST = "is it an incident? Runs the checklist alone; records nothing"
HELP_LIST = "open incidents with severity, status, age and time to the deadline"
HELP_SEVERITY = "change the severity (in an incident channel)"
HELP_RACI = "who is responsible and accountable for what"
HELP_DIGEST = "preview the weekly review digest (only you see it)"
HELP_ROSTER = "incident roles, their people and who is acting now; `reload` re-reads the policy"
HELP_AWAY = "mark yourself unavailable; your pages go to your backup (`away off` to return)"
HELP_PAGE = "page someone for this incident (in an incident channel)"
HELP_ASSIGN = "set who holds a role for this incident, e.g. the SME"
HELP_RESOLVE = "resolve this incident and ask for its post-mortem"
HELP_POSTMORTEM = "write or edit this incident's post-mortem"
HELP_FOLLOWUPS = "open action items (yours, or all)"
HELP_NOTE = "add a note to this incident's timeline"
HELP_STATUS = "post a status update (investigating, identified, monitoring, resolved)"
HELP_TIMELINE = "the timeline, oldest first; `#7` shows entry 7 whole"
HELP_CHANGE = "propose an emergency change (CHG) for this incident"


# --- bot scopes: what fails without each one (bot/slack/scopes.py), for operators --------

FAILS_COMMANDS = (
    "the /incident command and the 'Declare incident' and 'Add to incident timeline' shortcuts"
)
FAILS_REACTIONS = "capturing a message on an incident's timeline by reacting to it"
FAILS_CREATE_CHANNEL = "creating each incident's channel"
FAILS_INVITE = "inviting the responders into an incident's channel"
FAILS_ARCHIVE = "archiving an incident's channel once its post-mortem is done"
FAILS_FIND_BROADCAST = "finding the broadcast channel configured by #name"
FAILS_JOIN = "joining the configured broadcast channel so Firewatch may post and read there"
FAILS_CHANNEL_INFO = "checking a channel configured by id (whether Firewatch must join it)"
FAILS_POST = (
    "posting every message: reports, announcements, timeline entries, pages, and private "
    "notices by DM to someone outside the channel"
)
FAILS_UPDATE = "keeping the report, the announcement and change requests up to date"
FAILS_EPHEMERAL = "private confirmations and refusals"
FAILS_PIN = "pinning the incident report in the incident's channel"
FAILS_LOOKUP_CHANNEL = (
    "after a post whose answer was lost, finding it in the channel instead of posting it twice"
)
FAILS_OPEN_DM = (
    "after a page or DM whose answer was lost, opening the DM to find it "
    "(without it the page is sent twice)"
)
FAILS_LOOKUP_DM = (
    "after a page or DM whose answer was lost, finding it in the DM instead of sending it twice"
)
FAILS_READ_CAPTURED = "reading the message someone reacted to, to capture it on the timeline"
FAILS_ROSTER_EMAILS = "looking up the people the policy's roster names by email"
FAILS_GUESTS = "telling guests from members when checking who may do what"
FAILS_PREREQUISITE = "Slack grants {scope} only together with it ({fails})"

SCOPE_MISSING = (
    "Slack bot scope {scope} is not granted, so this will fail: {fails}. "
    "Fix: reinstall the Slack app from manifest.yaml (docs/install.md)."
)
SCOPES_UNKNOWN = "Slack did not say which scopes it granted (no x-oauth-scopes header)"
SCOPES_ALL_GRANTED = "every needed bot scope is granted ({count} granted)"
SCOPES_MISSING_LIST = "missing {scopes}: reinstall the Slack app from manifest.yaml"
SCOPES_NOT_CHECKED = "could not check the bot scopes: Slack did not answer as expected ({reason})"
SCOPES_NO_TOKEN = "could not check the bot scopes: no usable SLACK_BOT_TOKEN"

# --- App Home (bot/slack/blocks/home.py) ---
HOME_PAGE_LINE = "*{incident}* · paged {paged_at} as {role} · acknowledge by {deadline}"
HOME_POSTMORTEM_LINE = "*{incident}* · {status} · due {due}"
HOME_ITEM_LINE = "{text} · {incident} · due {due}"
HOME_ROLE_LINE = "*{title}*: {acting} acting now"
HOME_ROLE_ASSIGNED = "*{title}* in {incident}"
HOME_NO_ROLES = "You hold no role on the roster."
HOME_AWAY_NOW = "You are away until {until}."
HOME_NO_INCIDENTS = "No open incidents."
HOME_INCIDENT_LINE = (
    "*{severity}* · {status} · {link} {title}\n"
    "declared {declared} ({age} ago) · respond by {deadline}"
)
HOME_DEADLINE_PASSED = "{deadline} (passed)"
HOME_MORE = "…and {count} more: `/incident list`"
HOME_MORE_MINE = "…and {count} more: `/incident followups`"


# The public status page (issue 24): the forms' inputs, `/incident component` and
# `/incident maintenance`.
HELP_COMPONENT = (
    "the status page's components and their state; `<key> <state>` sets one by hand "
    "(operational, degraded, partial, major, maintenance), `<key> auto` hands it back"
)
HELP_MAINTENANCE = (
    "schedule maintenance on the status page (a form); `list` shows what is scheduled, "
    "`cancel <id>` cancels one"
)
COMPONENTS_LABEL = "Affected components (public status page)"
COMPONENTS_PLACEHOLDER = "Choose components"
COMPONENTS_OTHER_GROUP = "Other"
COMPONENT_IMPACT_LABEL = "Impact on them"
COMPONENT_IMPACT_HINT = (
    "Applies to every component chosen; major outage when left empty. "
    "Choosing no component takes the incident off them."
)
PUBLIC_UPDATE_LABEL = "Public update (shown on the status page)"
PUBLIC_UPDATE_HINT = (
    "Anyone can read it on the public status page. The update for stakeholders stays internal."
)
PUBLIC_UPDATE_RESOLVE_HINT = (
    "Anyone can read it on the public status page; when left empty, an incident the page "
    'shows says "This incident has been resolved." The summary stays internal.'
)
STATUS_PAGE_OFF = "The status page is not set up here: the policy lists no components."
COMPONENTS_HEADING = "*Status page components* ({count}):"
COMPONENT_LINE = "• `{key}` {name}: *{state}*"
COMPONENT_SET_BY_HAND = " (set by hand)"
COMPONENT_USAGE = (
    "`/incident component <key> <state>` sets a state by hand: operational, degraded, "
    "partial, major or maintenance. `/incident component <key> auto` hands it back to "
    "what incidents and maintenance say."
)
UNKNOWN_COMPONENT = "There is no component `{key}`. Known components: {known}."
NOT_A_COMPONENT_STATE = "`{word}` is not a state. Say one of: {valid}, or `auto`."
COMPONENT_SET = (
    "{name} now shows *{state}* on the status page, set by hand until "
    "`/incident component {key} auto`."
)
COMPONENT_AUTO = "{name} is back to what incidents and maintenance say (now: *{state}*)."
MAINTENANCE_MODAL_TITLE = "Schedule maintenance"
MAINTENANCE_TITLE_LABEL = "Title (public)"
MAINTENANCE_TITLE_HINT = 'Shown on the public status page, e.g. "Database upgrade".'
MAINTENANCE_COMPONENTS_LABEL = "Components under maintenance"
MAINTENANCE_STARTS_LABEL = "Starts"
MAINTENANCE_ENDS_LABEL = "Ends"
MAINTENANCE_NEEDS_TITLE = "Give the maintenance a title."
MAINTENANCE_NEEDS_COMPONENT = "Choose at least one component."
MAINTENANCE_NEEDS_TIME = "Choose a date and time."
MAINTENANCE_END_BEFORE_START = "The end must be after the start."
MAINTENANCE_END_PAST = "The end is in the past: choose a time to come."
MAINTENANCE_HEADING = "*Maintenance scheduled* ({count}):"
MAINTENANCE_LINE = "• `#{id}` *{title}*{now} — {components} — {starts} to {ends}"
MAINTENANCE_NOW = " (in progress)"
MAINTENANCE_NONE = "No maintenance is scheduled."
MAINTENANCE_USAGE = (
    "`/incident maintenance` schedules maintenance; `/incident maintenance cancel <id>` "
    "cancels one."
)
MAINTENANCE_CANCELLED = "Maintenance `#{id}` is cancelled: the status page no longer shows it."
MAINTENANCE_NOT_FOUND = (
    "There is no maintenance `#{id}` to cancel (see `/incident maintenance list`)."
)
MAINTENANCE_USAGE_ERROR = (
    "Say `/incident maintenance`, `/incident maintenance list` or "
    "`/incident maintenance cancel <id>`."
)
MAINTENANCE_SCHEDULED_TITLE = "Maintenance scheduled"
MAINTENANCE_SCHEDULED = (
    "Maintenance `#{id}` *{title}* is scheduled on {components}, {starts} to {ends}. "
    "The public status page shows it; `/incident maintenance cancel {id}` cancels it."
)
