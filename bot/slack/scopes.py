"""The Slack bot scopes Firewatch needs, in one place, and what fails without each one.

Slack checks a method's scope for the kind of conversation the call touches (public
channel, private channel, DM, group DM: `shared/slack-reference/fidelity.md`), so a need
is a (method, conversation type) pair, not "any scope the method's documentation lists".

* `CALLS`: every Web API call in the code (`bot.slack.api_usage` finds them; the manifest
  test checks this list against them both ways), keyed by file and function, with the
  conversation types it addresses and the feature that fails without its scope.
* `METHOD_SCOPES`: the scope Firewatch asks for, per method and conversation type.
* `FEATURE_SCOPES`: scopes a feature needs whatever the code calls (slash commands,
  shortcuts, events).
* `PREREQUISITES`: scopes Slack grants only together with another one.

`needed_scopes()` is what `manifest.yaml` must ask for, exactly; `missing_scopes()` is what
start-up and `firewatch check-config` compare with auth.test's `x-oauth-scopes` header.
Pure data and functions: no Bolt, no slack_sdk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from bot.slack import messages as m


class Conversation(StrEnum):
    """The kind of conversation a call touches; NONE for a call about no conversation
    (users.info) or one whose scope does not depend on it (chat.postMessage)."""

    NONE = "no conversation"
    PUBLIC = "public channel"
    PRIVATE = "private channel"
    DM = "DM"
    GROUP_DM = "group DM"


ANY = Conversation.NONE
PUBLIC, PRIVATE, DM, GROUP_DM = (
    Conversation.PUBLIC,
    Conversation.PRIVATE,
    Conversation.DM,
    Conversation.GROUP_DM,
)


def _per_type(
    public: str | None, private: str | None, dm: str | None, group_dm: str | None
) -> dict[Conversation, str | None]:
    """The scope per conversation type; None: Slack offers none (the call cannot be made)."""
    table: dict[Conversation, str | None] = {
        PUBLIC: public,
        PRIVATE: private,
        DM: dm,
        GROUP_DM: group_dm,
    }
    return {kind: scope for kind, scope in table.items() if scope is not None}


# The scope Firewatch asks for, per method and conversation type (fidelity.md's table).
# A method missing here, or a conversation type missing for it, is a need nobody has
# written down: `scope_for` refuses it and the manifest test fails. Where Slack accepts
# either of two scopes, the one named here is the one the manifest asks for:
# conversations.invite takes channels:write.invites too, but conversations.create needs
# channels:manage anyway, which covers inviting.
METHOD_SCOPES: Mapping[str, Mapping[Conversation, str | None]] = {
    "auth.test": {ANY: None},
    "views.open": {ANY: None},
    "views.update": {ANY: None},
    "views.push": {ANY: None},
    "views.publish": {ANY: None},
    # chat.* need chat:write in every kind of conversation the bot is in.
    "chat.postMessage": {ANY: "chat:write"},
    "chat.update": {ANY: "chat:write"},
    "chat.delete": {ANY: "chat:write"},
    "chat.postEphemeral": {ANY: "chat:write"},
    "chat.getPermalink": {ANY: "chat:write"},
    "pins.add": {ANY: "pins:write"},
    "bookmarks.add": {ANY: "bookmarks:write"},
    "bookmarks.list": {ANY: "bookmarks:read"},
    "pins.remove": {ANY: "pins:write"},
    "reactions.add": {ANY: "reactions:write"},
    "reactions.remove": {ANY: "reactions:write"},
    "reactions.get": {ANY: "reactions:read"},
    "users.info": {ANY: "users:read"},
    "users.list": {ANY: "users:read"},
    "users.lookupByEmail": {ANY: "users:read.email"},
    "conversations.open": _per_type(None, None, "im:write", "mpim:write"),
    "conversations.history": _per_type(
        "channels:history", "groups:history", "im:history", "mpim:history"
    ),
    "conversations.replies": _per_type(
        "channels:history", "groups:history", "im:history", "mpim:history"
    ),
    "conversations.info": _per_type("channels:read", "groups:read", "im:read", "mpim:read"),
    "conversations.members": _per_type("channels:read", "groups:read", "im:read", "mpim:read"),
    "conversations.list": _per_type("channels:read", "groups:read", "im:read", "mpim:read"),
    "conversations.create": _per_type("channels:manage", "groups:write", None, None),
    "conversations.invite": _per_type("channels:manage", "groups:write", None, None),
    "conversations.setTopic": _per_type("channels:manage", "groups:write", None, None),
    "conversations.setPurpose": _per_type("channels:manage", "groups:write", None, None),
    "conversations.rename": _per_type("channels:manage", "groups:write", None, None),
    "conversations.archive": _per_type("channels:manage", "groups:write", None, None),
    "conversations.unarchive": _per_type("channels:manage", "groups:write", None, None),
    "conversations.join": _per_type("channels:join", None, None, None),
}


@dataclass(frozen=True)
class CallUse:
    """One Web API call in the code: `site` is "path:function" as `bot.slack.api_usage`
    reports it; `conversations` the kinds it touches; `fails` what breaks without it."""

    method: str
    site: str
    conversations: frozenset[Conversation]
    fails: str


def _use(method: str, site: str, fails: str, *kinds: Conversation) -> CallUse:
    return CallUse(method, site, frozenset(kinds or (ANY,)), fails)


_WEB_API = "bot/slack/delivery/web_api.py"
_CAPTURE = "bot/slack/listeners/capture.py"
_NAMES = "bot/slack/delivery/channel_names.py"
_LIVE = "bot/slack/delivery/live_channel.py"
_ALERT_ACTIONS = "bot/slack/listeners/alert_actions.py"

# Firewatch creates, joins and reads public channels only, and talks to people in the
# app's DM with them; it asks for no private-channel (groups:*) or group-DM (mpim:*) scope.
CALLS: tuple[CallUse, ...] = (
    _use("auth.test", "bot/slack/auth.py:SlackAuth.check", ""),
    _use("auth.test", "bot/slack/auth.py:check_scopes", ""),
    _use(
        "chat.postEphemeral",
        "bot/slack/delivery/timeline.py:TimelineEffects.ephemeral",
        m.FAILS_EPHEMERAL,
    ),
    _use("chat.postMessage", f"{_WEB_API}:SlackPoster.post", m.FAILS_POST),
    _use("chat.update", f"{_WEB_API}:update_message", m.FAILS_UPDATE),
    _use(
        "conversations.archive",
        "bot/slack/delivery/postmortems.py:PostmortemEffects.archive",
        m.FAILS_ARCHIVE,
        PUBLIC,
    ),
    _use(
        "conversations.create",
        "bot/slack/delivery/incidents.py:IncidentEffects.create_channel",
        m.FAILS_CREATE_CHANNEL,
        PUBLIC,
    ),
    # A retry looks for its earlier post: in the incident's or a configured channel, or
    # (pages, DMs) in the DM that conversations.open returns.
    _use("conversations.history", f"{_WEB_API}:find_posted", m.FAILS_LOOKUP_CHANNEL, PUBLIC),
    _use("conversations.history", f"{_WEB_API}:find_posted", m.FAILS_LOOKUP_DM, DM),
    _use("conversations.replies", f"{_WEB_API}:find_posted", m.FAILS_LOOKUP_CHANNEL, PUBLIC),
    _use("conversations.replies", f"{_WEB_API}:find_posted", m.FAILS_LOOKUP_DM, DM),
    _use("conversations.open", f"{_WEB_API}:find_posted", m.FAILS_OPEN_DM, DM),
    _use("conversations.history", f"{_CAPTURE}:reacted_message", m.FAILS_READ_CAPTURED, PUBLIC),
    _use("conversations.replies", f"{_CAPTURE}:reacted_message", m.FAILS_READ_CAPTURED, PUBLIC),
    _use(
        "conversations.info",
        f"{_WEB_API}:SlackPoster.resolve_channel",
        m.FAILS_CHANNEL_INFO,
        PUBLIC,
    ),
    _use("conversations.join", f"{_WEB_API}:SlackPoster.resolve_channel", m.FAILS_JOIN, PUBLIC),
    _use("conversations.invite", f"{_WEB_API}:invite_users", m.FAILS_INVITE, PUBLIC),
    _use("conversations.list", f"{_WEB_API}:public_channel_named", m.FAILS_FIND_BROADCAST, PUBLIC),
    # A configured #name resolved once and stored (the broadcast channel).
    _use("conversations.list", f"{_NAMES}:ChannelNames._page", m.FAILS_FIND_BROADCAST, PUBLIC),
    _use(
        "conversations.info", f"{_NAMES}:ChannelNames._still_named", m.FAILS_FIND_BROADCAST, PUBLIC
    ),
    _use("conversations.join", f"{_NAMES}:ChannelNames._still_named", m.FAILS_JOIN, PUBLIC),
    _use("conversations.join", f"{_NAMES}:ChannelNames._resolve", m.FAILS_JOIN, PUBLIC),
    _use("pins.add", "bot/slack/delivery/incidents.py:IncidentEffects.pin_report", m.FAILS_PIN),
    _use("conversations.info", f"{_LIVE}:LiveChannelEffects.sync", m.FAILS_TOPIC, PUBLIC),
    _use("conversations.setTopic", f"{_LIVE}:LiveChannelEffects.sync", m.FAILS_TOPIC, PUBLIC),
    _use("bookmarks.list", f"{_LIVE}:add_bookmarks", m.FAILS_BOOKMARKS, PUBLIC),
    _use("bookmarks.add", f"{_LIVE}:add_bookmarks", m.FAILS_BOOKMARKS, PUBLIC),
    _use("chat.getPermalink", f"{_LIVE}:permalink", m.FAILS_BOOKMARKS, PUBLIC),
    _use("conversations.info", f"{_LIVE}:LiveChannelEffects.rename", m.FAILS_RENAME, PUBLIC),
    _use("conversations.rename", f"{_LIVE}:LiveChannelEffects.rename", m.FAILS_RENAME, PUBLIC),
    _use("users.info", "bot/slack/user_directory.py:UserDirectory.kind", m.FAILS_GUESTS),
    _use(
        "users.lookupByEmail",
        "bot/slack/delivery/paging.py:SlackDirectory.user_id_for_email",
        m.FAILS_ROSTER_EMAILS,
    ),
    _use("views.open", f"{_CAPTURE}:CaptureListeners.choose_incident", ""),
    _use("views.open", "bot/slack/listeners/commands.py:CoreCommands.open_declare", ""),
    _use("views.open", "bot/slack/listeners/commands.py:CoreCommands.open_checklist", ""),
    _use("views.open", "bot/slack/listeners/declare.py:open_severity_modal", ""),
    _use("views.open", "bot/slack/listeners/declare.py:DeclareListeners.open_declare_modal", ""),
    _use("views.open", "bot/slack/listeners/home.py:HomeListeners.open_declare_modal", ""),
    _use("views.publish", "bot/slack/delivery/home.py:HomeEffects.publish", ""),
    _use(
        "views.open", "bot/slack/listeners/postmortems.py:PostmortemListeners.open_postmortem", ""
    ),
    _use("views.open", "bot/slack/listeners/postmortems.py:PostmortemListeners.follow_resolve", ""),
    _use("views.open", "bot/slack/listeners/timeline.py:TimelineListeners.open_status", ""),
    _use("views.open", "bot/slack/listeners/timeline.py:TimelineListeners.open_change", ""),
    _use("views.open", "bot/slack/listeners/picker.py:IncidentPicker.open_picker", ""),
    _use("views.open", f"{_ALERT_ACTIONS}:AlertActionListeners.open_declare", ""),
    _use("views.open", f"{_ALERT_ACTIONS}:AlertActionListeners.open_link", ""),
    _use("views.open", f"{_ALERT_ACTIONS}:AlertActionListeners.open_silence", ""),
    _use(
        "views.open", "bot/slack/listeners/status_page.py:StatusPageListeners.open_maintenance", ""
    ),
)

# Scopes features need whatever the code calls: what Slack requires to deliver them.
# (The manifest test checks these against the manifest's commands, shortcuts and events.)
COMMANDS_SCOPE = "commands"
REACTIONS_SCOPE = "reactions:read"
FEATURE_SCOPES: Mapping[str, str] = {
    COMMANDS_SCOPE: m.FAILS_COMMANDS,  # the slash command and the shortcuts
    REACTIONS_SCOPE: m.FAILS_REACTIONS,  # the reaction_added / reaction_removed events
}

# Slack grants the first scope only together with the second.
PREREQUISITES: Mapping[str, str] = {"users:read.email": "users:read"}


class UnknownNeed(LookupError):
    """A method, or a conversation type for it, that METHOD_SCOPES does not name."""


def scope_for(method: str, conversation: Conversation) -> str | None:
    """The scope a call of `method` touching `conversation` needs (None: no scope)."""
    table = METHOD_SCOPES.get(method)
    if table is None:
        raise UnknownNeed(f"{method}: no entry in bot/slack/scopes.py METHOD_SCOPES")
    if ANY in table:
        return table[ANY]
    if conversation not in table:
        raise UnknownNeed(f"{method} on a {conversation}: Slack offers no bot scope for it")
    return table[conversation]


def call_scopes(use: CallUse) -> set[str]:
    """The scopes one call needs, for every conversation type it touches."""
    found = {scope_for(use.method, kind) for kind in use.conversations}
    return {scope for scope in found if scope is not None}


def needed_scopes(calls: Iterable[CallUse] = CALLS) -> dict[str, tuple[str, ...]]:
    """Every bot scope Firewatch needs → what fails without it (sorted by scope)."""
    fails: dict[str, list[str]] = {}

    def need(scope: str, feature: str) -> None:
        features = fails.setdefault(scope, [])
        if feature and feature not in features:
            features.append(feature)

    for use in calls:
        for scope in call_scopes(use):
            need(scope, use.fails)
    for scope, feature in FEATURE_SCOPES.items():
        need(scope, feature)
    for scope, prerequisite in PREREQUISITES.items():
        if scope in fails:
            because = "; ".join(fails[scope])
            need(prerequisite, m.FAILS_PREREQUISITE.format(scope=scope, fails=because))
    return {scope: tuple(fails[scope]) for scope in sorted(fails)}


def missing_scopes(granted: Iterable[str]) -> dict[str, str]:
    """The needed scopes `granted` lacks → what fails without each, in operators' words."""
    have = set(granted)
    return {
        scope: "; ".join(features)
        for scope, features in needed_scopes().items()
        if scope not in have
    }


def parse_scopes(header: str | None) -> frozenset[str] | None:
    """auth.test's `x-oauth-scopes` header ("chat:write,commands,…") as a set; None when
    Slack sent none."""
    if header is None:
        return None
    return frozenset(s.strip() for s in header.split(",") if s.strip())
