"""`firewatch demo`: an incident played end to end against the local Slack emulator.

No credentials, no network: the emulator and the bot both listen on 127.0.0.1, the
database is a temporary SQLite file, and every request is signed as Slack signs it.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

from bot.app import Firewatch
from bot.config import Settings
from bot.emulator import SlackEmulator, SlackRequestSender, input_values
from bot.logs import configure_logging
from bot.slack.ids import Block, Callback

DEMO_TIMEOUT = 10.0


def _say(quiet: bool, text: str = "") -> None:
    if not quiet:
        print(text)


def _message_text(message: Any) -> str:
    lines = []
    for block in message.blocks or []:
        if block.get("type") == "header":
            lines.append(block["text"]["text"])
        elif block.get("type") in ("section", "context"):
            if block.get("text"):
                lines.append(block["text"]["text"])
            for f in block.get("fields", []) + block.get("elements", []):
                lines.append(f.get("text", "").replace("\n", ": "))
    return "\n".join(lines) or message.text


async def run_demo(*, quiet: bool = False) -> int:
    configure_logging("WARNING", "text")
    secret = secrets.token_hex(16)
    token = "xoxb-demo-" + secrets.token_hex(8)
    with tempfile.TemporaryDirectory(prefix="firewatch-demo-") as tmp:
        async with SlackEmulator(bot_token=token) as slack:
            settings = Settings(
                SLACK_BOT_TOKEN=token,
                SLACK_SIGNING_SECRET=secret,
                SLACK_API_URL=slack.api_url,
                FIREWATCH_DATABASE_URL=f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}",
                FIREWATCH_BROADCAST_CHANNEL="#incidents",
                FIREWATCH_HOST="127.0.0.1",
                FIREWATCH_PORT=0,
                FIREWATCH_ENV="development",
            )
            bot = Firewatch(settings)
            await bot.start()
            try:
                return await _play(bot, slack, secret, quiet)
            finally:
                await bot.stop()


async def _play(bot: Firewatch, slack: SlackEmulator, secret: str, quiet: bool) -> int:
    url = f"http://127.0.0.1:{bot.port}/slack/events"
    async with SlackRequestSender(url, secret) as sender:
        _say(quiet, "Firewatch demo — the Slack emulator and the bot run on 127.0.0.1\n")
        _say(quiet, "alice types: /incident declare Checkout errors")
        answer = await sender.slash_command("declare Checkout errors", user_id="U0ALICE")
        if answer.status != 200:
            return _fail(f"/incident answered HTTP {answer.status}")
        views = await slack.wait_for(
            lambda: slack.opened_views(Callback.DECLARE_MODAL), DEMO_TIMEOUT
        )
        view = views[-1]
        _say(quiet, f"Firewatch opens the form “{view['title']['text']}” for alice\n")

        report: dict[str, Any] = {
            Block.TITLE: "Checkout errors",
            Block.SEVERITY: "sev1",
            Block.NATURE: "HTTP 500 on /checkout for about a third of requests since 14:02 UTC.",
            Block.DISCOVERY: "monitoring_alert",
            Block.IMPACT: "Customers cannot pay; orders are lost.",
            Block.EVIDENCE: "https://grafana.example.com/d/checkout",
            Block.SERVICE: "checkout-api",
        }
        _say(quiet, "alice fills it in and submits:")
        for key, value in report.items():
            _say(quiet, f"  {key:<10} {value}")
        ticks = {
            "checklist__incident": ["production", "user_access"],
            "checklist__severe": ["cannot_access_assets", "feature_downtime"],
            "checklist__urgent": ["ongoing", "no_workaround", "cannot_wait"],
        }
        _say(quiet, "  checklist  production, users' access, severe (2 of 4), urgent (3 of 3)")
        values = input_values(view, {**report, **ticks})
        submitted = await sender.view_submission(view, values, user_id="U0ALICE")
        if submitted.status != 200 or submitted.text.strip() not in ("", "{}"):
            return _fail(f"the form was refused: HTTP {submitted.status} {submitted.text}")

        def declared() -> bool:
            channel = slack.channel_by_name("inc-1-checkout-errors")
            return bool(
                channel
                and slack.pins(channel.id)
                and slack.messages("#incidents")
                and "U0ALICE" in channel.members
            )

        try:
            await slack.wait_for(declared, DEMO_TIMEOUT)
        except TimeoutError as exc:
            return _fail(f"the declaration did not reach Slack: {exc}")
        incident = await bot.incidents.get(1)
        _say(quiet, f"\nStored {incident.ref} ({incident.severity}, {incident.status.value}).\n")
        _say(quiet, "What Slack saw, channel by channel:")
        channel = slack.channel_by_name("inc-1-checkout-errors")
        assert channel is not None
        for name in ("#incidents", f"#{channel.name}"):
            _say(quiet, f"\n── {name} " + "─" * max(0, 60 - len(name)))
            for message in slack.messages(name):
                pinned = " 📌" if any(p.ts == message.ts for p in slack.pins(name)) else ""
                _say(quiet, f"[{message.ts}]{pinned}")
                _say(quiet, "  " + _message_text(message).replace("\n", "\n  "))
        calls = ", ".join(c.method for c in slack.calls)
        _say(quiet, f"\nWeb API calls, in order: {calls}")
        print(
            f"demo OK: {incident.ref} declared, channel #{channel.name} opened, "
            "report pinned, announced"
        )
        return 0


def _fail(reason: str) -> int:
    print(f"demo FAILED: {reason}", file=sys.stderr)
    return 1
