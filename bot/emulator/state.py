"""In-memory model of one Slack workspace, as the emulator sees it.

Everything here is plain data plus small lookup helpers; the Web API semantics (errors, argument
rules) live in :mod:`bot.emulator.methods`.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

JSON = dict[str, Any]

_CHANNEL_NAME_OK = re.compile(r"^[a-z0-9_-]+$")
_PUNCTUATION_ONLY = re.compile(r"^[_-]+$")


def channel_name_error(name: str) -> str | None:
    """The Slack error for an unacceptable channel name, or ``None`` if Slack would accept it."""
    if not name:
        return "invalid_name_required"
    if len(name) > 80:
        return "invalid_name_maxlength"
    if _PUNCTUATION_ONLY.match(name):
        return "invalid_name_punctuation"
    if not _CHANNEL_NAME_OK.match(name):
        return "invalid_name_specials"
    return None


@dataclass
class User:
    id: str
    name: str
    email: str
    tz: str = "UTC"
    real_name: str = ""
    is_bot: bool = False
    is_admin: bool = False
    deleted: bool = False
    bot_id: str | None = None
    is_restricted: bool = False  # a multi-channel guest
    is_ultra_restricted: bool = False  # a single-channel guest

    def as_dict(self, team_id: str, now: float) -> JSON:
        zone = ZoneInfo(self.tz)
        moment = datetime.fromtimestamp(now, UTC).astimezone(zone)
        offset = moment.utcoffset()
        real_name = self.real_name or self.name
        profile: JSON = {
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": self.name,
            "display_name_normalized": self.name,
            "email": self.email,
            "status_text": "",
            "status_emoji": "",
            "image_48": f"https://avatars.example.invalid/{self.id}_48.png",
            "team": team_id,
        }
        if self.bot_id:
            profile["bot_id"] = self.bot_id
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "deleted": self.deleted,
            "color": "9f69e7",
            "real_name": real_name,
            "tz": self.tz,
            "tz_label": moment.tzname() or self.tz,
            "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
            "profile": profile,
            "is_admin": self.is_admin,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": self.is_restricted,
            "is_ultra_restricted": self.is_ultra_restricted,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": 1700000000,
        }


@dataclass
class Channel:
    id: str
    name: str
    created: int
    creator: str
    is_private: bool = False
    is_im: bool = False
    im_user: str | None = None
    is_general: bool = False
    is_archived: bool = False
    members: list[str] = field(default_factory=list)
    topic: JSON = field(default_factory=lambda: {"value": "", "creator": "", "last_set": 0})
    purpose: JSON = field(default_factory=lambda: {"value": "", "creator": "", "last_set": 0})
    previous_names: list[str] = field(default_factory=list)

    def as_dict(self, bot_user_id: str) -> JSON:
        if self.is_im:
            return {
                "id": self.id,
                "created": self.created,
                "is_im": True,
                "is_org_shared": False,
                "user": self.im_user,
                "is_user_deleted": False,
                "priority": 0,
            }
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "created": self.created,
            "is_archived": self.is_archived,
            "is_general": self.is_general,
            "unlinked": 0,
            "name_normalized": self.name,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "pending_shared": [],
            "is_pending_ext_shared": False,
            "is_member": bot_user_id in self.members,
            "creator": self.creator,
            "topic": dict(self.topic),
            "purpose": dict(self.purpose),
            "previous_names": list(self.previous_names),
            "num_members": len(self.members),
        }


@dataclass
class Message:
    channel: str
    ts: str
    user: str
    text: str = ""
    blocks: list[Any] | None = None
    attachments: list[Any] | None = None
    thread_ts: str | None = None
    reply_broadcast: bool = False
    metadata: JSON | None = None
    bot_id: str | None = None
    app_id: str | None = None
    team: str = ""
    edited: JSON | None = None
    reactions: list[JSON] = field(default_factory=list)

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def as_dict(self) -> JSON:
        out: JSON = {"type": "message", "user": self.user, "text": self.text, "ts": self.ts}
        if self.bot_id:
            out["bot_id"] = self.bot_id
            out["app_id"] = self.app_id
        if self.team:
            out["team"] = self.team
        for key in ("blocks", "attachments", "thread_ts", "metadata", "edited"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.reactions:
            out["reactions"] = [dict(r, users=list(r["users"])) for r in self.reactions]
        return out


@dataclass
class Ephemeral:
    channel: str
    user: str
    ts: str
    text: str = ""
    blocks: list[Any] | None = None
    attachments: list[Any] | None = None
    thread_ts: str | None = None


@dataclass
class Pin:
    channel: str
    ts: str
    created: int
    created_by: str


@dataclass
class Bookmark:
    id: str
    channel_id: str
    title: str
    type: str
    link: str | None
    emoji: str | None
    date_created: int
    created_by: str

    def as_dict(self, team_id: str) -> JSON:
        return {
            "id": self.id,
            "channel_id": self.channel_id,
            "title": self.title,
            "link": self.link,
            "emoji": self.emoji,
            "icon_url": None,
            "type": self.type,
            "entity_id": None,
            "date_created": self.date_created,
            "date_updated": 0,
            "rank": "g",
            "last_updated_by_user_id": self.created_by,
            "last_updated_by_team_id": team_id,
            "shortcut_id": None,
            "app_id": None,
        }


class Workspace:
    """Users, channels, messages, views, pins and bookmarks of one team."""

    def __init__(
        self,
        *,
        team_id: str,
        team_domain: str,
        bot_user_id: str,
        clock: Callable[[], float],
    ) -> None:
        self.team_id = team_id
        self.team_domain = team_domain
        self.team_name = team_domain.replace("-", " ").title()
        self.bot_user_id = bot_user_id
        self.bot_id = "B0FIREBOT"
        self.app_id = "A0FIREWTCH"
        self.clock = clock
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.messages: dict[str, list[Message]] = {}
        self.ephemerals: list[Ephemeral] = []
        self.views: dict[str, JSON] = {}
        self.view_log: list[JSON] = []
        self.home_views: dict[str, str] = {}
        self.used_triggers: dict[str, float] = {}
        self.pins: dict[str, list[Pin]] = {}
        self.bookmarks: dict[str, list[Bookmark]] = {}
        #: The bot scopes the installation granted; None: scopes are not checked.
        self.granted_scopes: set[str] | None = None
        self._last_ts_us = 0
        self._ids = itertools.count(1)
        self.add_user(bot_user_id, "firewatch", "firewatch-bot@example.com", is_bot=True)
        self.users[bot_user_id].bot_id = self.bot_id
        self.users[bot_user_id].real_name = "Firewatch"
        humans = [("U0ALICE", "alice", "America/New_York"), ("U0BOB", "bob", "Europe/London")]
        humans += [("U0CAROL", "carol", "Europe/Berlin"), ("U0DAVE", "dave", "Asia/Tokyo")]
        for user_id, name, tz in humans:
            self.add_user(user_id, name, f"{name}@example.com", tz=tz)
        human_ids = [u[0] for u in humans]
        self.add_channel("incidents", channel_id="C0INCIDENTS", members=[*human_ids, bot_user_id])
        self.add_channel("general", channel_id="C0GENERAL", members=human_ids, is_general=True)

    # -- ids and time -------------------------------------------------------------------------

    def now(self) -> int:
        return int(self.clock())

    def next_ts(self) -> str:
        """A message timestamp, strictly greater than every one issued before."""
        micros = max(self._last_ts_us + 1, int(self.clock() * 1_000_000))
        self._last_ts_us = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):04d}{secrets.token_hex(3).upper()}"

    def new_hash(self) -> str:
        return f"{self.now()}.{secrets.token_hex(4)}"

    # -- seeding ------------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        name: str,
        email: str,
        *,
        tz: str = "UTC",
        real_name: str = "",
        is_bot: bool = False,
        is_admin: bool = False,
        is_restricted: bool = False,
    ) -> User:
        ZoneInfo(tz)  # fail fast on a typo in the time zone
        user = User(user_id, name, email, tz, real_name or name.title(), is_bot, is_admin)
        user.is_restricted = is_restricted
        self.users[user_id] = user
        return user

    def add_channel(
        self,
        name: str,
        *,
        channel_id: str | None = None,
        is_private: bool = False,
        members: Iterable[str] = (),
        creator: str | None = None,
        is_general: bool = False,
    ) -> Channel:
        channel = Channel(
            id=channel_id or self.new_id("G" if is_private else "C"),
            name=name,
            created=self.now(),
            creator=creator or self.bot_user_id,
            is_private=is_private,
            is_general=is_general,
            members=list(dict.fromkeys(members)),
        )
        self.channels[channel.id] = channel
        self.messages[channel.id] = []
        return channel

    def add_message(self, channel_id: str, message: Message) -> Message:
        self.messages.setdefault(channel_id, []).append(message)
        return message

    # -- lookups ------------------------------------------------------------------------------

    def resolve_channel(self, ref: str) -> Channel | None:
        """A channel by id, ``#name``, bare name, or user id (the bot's DM with that user)."""
        if ref in self.channels:
            return self.channels[ref]
        if ref in self.users:
            return self.open_dm(ref)
        name = ref[1:] if ref.startswith("#") else ref
        for channel in self.channels.values():
            if channel.name == name and not channel.is_im:
                return channel
        return None

    def channel_by_name(self, name: str) -> Channel | None:
        name = name.removeprefix("#")
        return next((c for c in self.channels.values() if c.name == name and not c.is_im), None)

    def dm_channel_for(self, user_id: str) -> Channel | None:
        return next((c for c in self.channels.values() if c.is_im and c.im_user == user_id), None)

    def open_dm(self, user_id: str) -> Channel:
        existing = self.dm_channel_for(user_id)
        if existing is not None:
            return existing
        channel = Channel(
            id=self.new_id("D"),
            name=user_id,
            created=self.now(),
            creator=self.bot_user_id,
            is_private=True,
            is_im=True,
            im_user=user_id,
            members=[self.bot_user_id, user_id],
        )
        self.channels[channel.id] = channel
        self.messages[channel.id] = []
        return channel

    def find_message(self, channel_id: str, ts: str) -> Message | None:
        return next((m for m in self.messages.get(channel_id, []) if m.ts == ts), None)

    def user_by_email(self, email: str) -> User | None:
        wanted = email.strip().lower()
        return next((u for u in self.users.values() if u.email.lower() == wanted), None)

    def permalink(self, channel_id: str, message: Message) -> str:
        base = f"https://{self.team_domain}.slack.com/archives/{channel_id}"
        link = f"{base}/p{message.ts.replace('.', '')}"
        if message.is_reply:
            link += f"?thread_ts={message.thread_ts}&cid={channel_id}"
        return link
