"""`firewatch demo`: an incident played end to end against the local Slack emulator.

No credentials, no network: the emulator and the bot both listen on 127.0.0.1, the
database is a temporary SQLite file, and every request is signed as Slack signs it.
The demo's policy puts emulator users in the IRT roles so paging shows too.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.app import Firewatch
from bot.config import Settings
from bot.domain.status_page import ComponentState
from bot.emulator import SlackEmulator, SlackRequestSender, input_values
from bot.runtime.logs import configure_logging
from bot.slack.ids import Action, Block, Callback, PmIds, StatusPageIds
from storage.outbox import OutboxRepository

DEMO_TIMEOUT = 15.0
DEMO_POLICY = """\
# The demo's roster: emulator users in the Incident Response Team roles.
roles:
  pm: {primary: U0BOB}
  dl: {primary: U0CAROL}
  om: {primary: U0DAVE}
# The public status page's components (served on its own port: FIREWATCH_STATUS_PORT).
components:
  - {key: checkout, name: Checkout}
  - {key: login, name: Login}
"""
DEMO_REPORT: dict[str, Any] = {
    Block.TITLE: "Checkout errors",
    Block.SEVERITY: "sev1",
    Block.NATURE: "HTTP 500 on /checkout for about a third of requests since 14:02 UTC.",
    Block.DISCOVERY: "monitoring_alert",
    Block.IMPACT: "Customers cannot pay; orders are lost.",
    Block.EVIDENCE: "https://grafana.example.com/d/checkout",
    Block.SERVICE: "checkout-api",
    StatusPageIds.COMPONENTS: ["checkout"],
    StatusPageIds.COMPONENT_STATE: "major_outage",
    "checklist__incident": ["production", "user_access"],
    "checklist__severe": ["cannot_access_assets", "feature_downtime"],
    "checklist__urgent": ["ongoing", "no_workaround", "cannot_wait"],
}
NAMES = {
    "U0ALICE": "alice",
    "U0BOB": "bob",
    "U0CAROL": "carol",
    "U0DAVE": "dave",
    "U0FIREBOT": "firewatch",
}


class Transcript:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def say(self, text: str = "") -> None:
        if not self.quiet:
            print(text)


def readable(text: str, channels: dict[str, str]) -> str:
    """Slack mrkdwn as a person reads it: names for mentions, dates as text."""
    text = re.sub(r"<@(\w+)>", lambda m: "@" + NAMES.get(m.group(1), m.group(1)), text)
    text = re.sub(r"<#(\w+)>", lambda m: "#" + channels.get(m.group(1), m.group(1)), text)
    text = re.sub(r"<!date\^\d+\^[^|]*\|([^>]*)>", r"\1", text)
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def message_lines(message: Any) -> list[str]:
    lines: list[str] = []
    for block in message.blocks or []:
        kind = block.get("type")
        if kind == "header":
            lines.append(block["text"]["text"])
        elif kind in ("section", "context"):
            if block.get("text"):
                lines.append(block["text"]["text"])
            for f in block.get("fields", []) + block.get("elements", []):
                if f.get("text"):
                    lines.append(f["text"].replace("\n", ": "))
        elif kind == "actions":
            labels = [e.get("text", {}).get("text", "") for e in block.get("elements", [])]
            lines.append("[" + "] [".join(labels) + "]")
    return lines or [message.text]


async def run_demo(*, quiet: bool = False) -> int:
    configure_logging("WARNING", "text")
    secret = secrets.token_hex(16)
    token = "xoxb-demo-" + secrets.token_hex(8)
    with tempfile.TemporaryDirectory(prefix="firewatch-demo-") as tmp:
        policy = Path(tmp) / "policy.yaml"
        policy.write_text(DEMO_POLICY, encoding="utf-8")
        async with SlackEmulator(bot_token=token) as slack:
            settings = Settings(
                SLACK_BOT_TOKEN=token,
                SLACK_SIGNING_SECRET=secret,
                SLACK_API_URL=slack.api_url,
                FIREWATCH_DATABASE_URL=f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}",
                FIREWATCH_BROADCAST_CHANNEL="#incidents",
                FIREWATCH_POLICY_FILE=str(policy),
                FIREWATCH_HOST="127.0.0.1",
                FIREWATCH_PORT=0,
                FIREWATCH_STATUS_PORT=0,
                FIREWATCH_STATUS_CACHE_SECONDS=0,
                FIREWATCH_OUTBOX_POLL_SECONDS=0.1,
                FIREWATCH_ENV="development",
            )
            bot = Firewatch(settings)
            await bot.start()
            try:
                return await _play(bot, slack, secret, Transcript(quiet))
            except TimeoutError as exc:
                return _fail(f"Slack did not see what it should have: {exc}")
            finally:
                await bot.stop()


class DemoFailed(Exception):
    """Slack answered, but not as it should have; the reason is the exception's text."""


async def _play(bot: Firewatch, slack: SlackEmulator, secret: str, out: Transcript) -> int:
    url = f"http://127.0.0.1:{bot.port}/slack/events"
    sender = SlackRequestSender(
        url, secret, response_url_base=slack.hooks_url, workspace=slack.state
    )
    async with sender:
        out.say("Firewatch demo — the Slack emulator and the bot run on 127.0.0.1\n")
        people = _People(slack, sender, out)
        try:
            channel = await people.declare()
        except DemoFailed as exc:
            return _fail(str(exc))
        out.say(await _status_line(bot, "   the public status page"))
        await people.acknowledge()
        await people.work_in(channel)
        await slack.wait_for(people.postmortem_asked, DEMO_TIMEOUT)
        await _settled(bot)
        incident = await bot.incidents.get(1)
        out.say(
            f"\nStored {incident.ref}: {incident.severity}, {incident.status.value}, acknowledged "
            f"{'yes' if incident.acknowledged_at else 'no'}, post-mortem requested from bob.\n"
        )
        out.say(await _status_line(bot, "The public status page") + "\n")
        _transcript(slack, out, channel.id)
        calls = ", ".join(sorted({c.method for c in slack.calls}))
        out.say(f"\nWeb API methods used: {calls}")
        print(
            "demo OK: INC-1 declared, paged, acknowledged, noted, resolved; post-mortem requested"
        )
        return 0


@dataclass
class _People:
    """The demo's people at work: what they type and press, and what they are told."""

    slack: SlackEmulator
    sender: SlackRequestSender
    out: Transcript

    async def declare(self) -> Any:
        """Alice declares with the form; returns the incident's channel once paged."""
        slack, out = self.slack, self.out
        out.say("1. alice types: /incident declare Checkout errors")
        answer = await self.sender.slash_command("declare Checkout errors", user_id="U0ALICE")
        if answer.status != 200:
            raise DemoFailed(f"/incident answered HTTP {answer.status}")
        views = await slack.wait_for(
            lambda: slack.opened_views(Callback.DECLARE_MODAL), DEMO_TIMEOUT
        )
        view = views[-1]
        out.say(f"   Firewatch opens “{view['title']['text']}”; alice fills in the report and")
        out.say("   ticks the checklist (production, users' access, severe, urgent) → Declare")
        submitted = await self.sender.view_submission(
            view, input_values(view, DEMO_REPORT), user_id="U0ALICE"
        )
        if submitted.status != 200 or submitted.text.strip() not in ("", "{}"):
            raise DemoFailed(f"the form was refused: HTTP {submitted.status} {submitted.text}")
        await slack.wait_for(self.paged, DEMO_TIMEOUT)
        channel = slack.channel_by_name("inc-1-checkout-errors")
        assert channel is not None
        out.say("   → channel #inc-1-checkout-errors, report pinned, announcement in #incidents,")
        out.say("     the PM, Development Lead and Operations Lead paged by DM\n")
        return channel

    def paged(self) -> Any:
        """Truthy once the channel, its pin, the announcement and bob's page are there."""
        slack = self.slack
        channel = slack.channel_by_name("inc-1-checkout-errors")
        dms = [m for m in slack.messages("U0BOB") if "paged" in m.text.lower()]
        return channel and slack.pins(channel.id) and slack.messages("#incidents") and dms

    def postmortem_asked(self) -> Any:
        """Truthy once bob is asked for the post-mortem."""
        return [m for m in self.slack.messages("U0BOB") if "post-mortem" in m.text]

    async def acknowledge(self) -> None:
        page_dm = next(m for m in self.slack.messages("U0BOB") if "paged" in m.text.lower())
        self.out.say("2. bob (Product Manager) presses Acknowledge in his DM")
        await self.sender.block_action(
            Action.PAGE_ACKNOWLEDGE,
            value=_button_value(page_dm, Action.PAGE_ACKNOWLEDGE),
            user_id="U0BOB",
            channel_id=page_dm.channel,
            message=page_dm.as_dict(),
        )

    async def work_in(self, channel: Any) -> None:
        """Alice notes, sets the status and resolves, in the incident's channel."""
        steps = (
            (
                "3. alice: /incident note Rolled back checkout to v41",
                "note Rolled back checkout to v41",
            ),
            (
                "4. alice: /incident status monitoring Error rate back to normal",
                "status monitoring Error rate back to normal",
            ),
            ("5. alice: /incident resolve → “Rolled back v42; fix to follow in v43”", "resolve"),
        )
        for told, typed in steps:
            self.out.say(told)
            await self.sender.slash_command(
                typed, user_id="U0ALICE", channel_id=channel.id, channel_name=channel.name
            )
        [resolve] = await self.slack.wait_for(
            lambda: self.slack.opened_views(PmIds.RESOLVE_MODAL), DEMO_TIMEOUT
        )
        values = input_values(resolve, {PmIds.SUMMARY: "Rolled back v42; fix to follow in v43"})
        await self.sender.view_submission(resolve, values, user_id="U0ALICE")


async def _status_line(bot: Firewatch, prefix: str) -> str:
    """What the status page's JSON says (GET /status.json on the status port)."""
    url = f"http://127.0.0.1:{bot.status_port}/status.json"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        document = await response.json()
    states = ", ".join(
        f"{c['name']}: {ComponentState(c['state']).label.lower()}"
        for c in document["components"].values()
    )
    return f"{prefix} ({url}) says {document['overall']['label'].lower()}; {states}"


async def _settled(bot: Firewatch) -> None:
    """Wait (bounded) until the outbox has delivered everything that is due."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEMO_TIMEOUT
    while loop.time() < deadline:
        async with bot.db.session(write=False) as session:
            pending = await OutboxRepository(session).listing("pending", limit=50)
        if not [row for row in pending if row.next_attempt_at <= bot.clock.now()]:
            return
        bot.worker.wake()
        await asyncio.sleep(0.05)
    raise TimeoutError("the outbox did not drain")


def _button_value(message: Any, action_id: str) -> str:
    for block in message.blocks or []:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return str(element.get("value", ""))
    raise TimeoutError(f"no {action_id} button in the page")


def _transcript(slack: SlackEmulator, out: Transcript, incident_channel: str) -> None:
    channels = {c.id: c.name for c in slack.state.channels.values()}
    out.say("What Slack saw, conversation by conversation:")
    places = [
        ("#incidents", "#incidents"),
        (f"#{channels[incident_channel]}", incident_channel),
        ("DM with bob", "U0BOB"),
    ]
    for title, where in places:
        out.say(f"\n── {title} " + "─" * max(0, 60 - len(title)))
        pins = {p.ts for p in slack.pins(where)} if where.startswith(("C", "#")) else set()
        for message in slack.messages(where):
            marker = " 📌" if message.ts in pins else ""
            thread = "   ↳ " if message.thread_ts and message.thread_ts != message.ts else ""
            text = "\n".join(readable(line, channels) for line in message_lines(message))
            indent = "\n" + " " * (len(thread) + 2)
            out.say(f"{thread}•{marker} " + indent.join(text.split("\n")))


def _fail(reason: str) -> int:
    print(f"demo FAILED: {reason}", file=sys.stderr)
    return 1
