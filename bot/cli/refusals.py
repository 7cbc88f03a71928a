"""`firewatch refusals`: who was refused what, newest first, read-only (every refusal:
the ones on an incident are on its timeline as well). Registered on the main parser by
`bot.cli.main.build_parser`."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, time
from typing import Any

from bot.cli.offline import offline, positive_int, utc_text
from bot.config import load_settings

_COLUMNS = ("WHEN (UTC)", "WHO", "KIND", "ACTION", "INCIDENT")


def add_refusal_commands(sub: Any) -> None:
    parser = sub.add_parser("refusals", help="actions refused by the policy, newest first")
    parser.add_argument("--limit", type=positive_int, default=50, help="at most N refusals (50)")
    parser.add_argument(
        "--since", type=_day, help="only from this day on, YYYY-MM-DD (UTC)", default=None
    )
    parser.set_defaults(handler=_list, repeatable=True)


def _day(text: str) -> datetime:
    try:
        return datetime.combine(datetime.strptime(text, "%Y-%m-%d").date(), time(), UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _list(args: argparse.Namespace) -> int:
    from bot.domain.incident import reference
    from storage.refusals import RefusalRepository

    settings = load_settings()

    async def go() -> int:
        async with offline(settings) as app, app.db.session(write=False) as session:
            found = await RefusalRepository(session).recent(limit=args.limit, since=args.since)
        if not found:
            print("no refusals")
            return 0
        rows = [
            (
                utc_text(r.at),
                r.actor,
                r.actor_kind,
                r.action,
                reference(r.incident_id) if r.incident_id is not None else "-",
            )
            for r in found
        ]
        widths = [max(len(r[i]) for r in [_COLUMNS, *rows]) for i in range(len(_COLUMNS))]
        for row in [_COLUMNS, *rows]:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        return 0

    return asyncio.run(go())
