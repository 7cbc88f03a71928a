"""`firewatch alerts list`: the alert groups last seen most recently, read-only.
Registered on the main parser by `bot.cli.main.build_parser`."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bot.cli.offline import offline, positive_int, utc_text
from bot.config import load_settings

_COLUMNS = ("ID", "SOURCE", "STATUS", "FIRING", "CHANNEL", "INCIDENT", "ACK BY", "LAST SEEN (UTC)")


def add_alert_commands(sub: Any) -> None:
    """Register `firewatch alerts list` on the `firewatch` parser's subparsers."""
    parser = sub.add_parser("alerts", help="monitoring alert groups")
    alerts_sub = parser.add_subparsers(dest="alerts_command", required=True)
    listing = alerts_sub.add_parser("list", help="the alert groups last seen most recently")
    listing.add_argument("--firing", action="store_true", help="only groups still firing")
    listing.add_argument("--limit", type=positive_int, default=50, help="at most N groups (50)")
    listing.set_defaults(handler=_list)


def _list(args: argparse.Namespace) -> int:
    from bot.domain.incident import reference
    from storage.alert_listing import AlertListing

    settings = load_settings()

    async def go() -> int:
        async with offline(settings) as app, app.db.session(write=False) as session:
            groups = await AlertListing(session).recent_groups(
                firing_only=args.firing, limit=args.limit
            )
        if not groups:
            print("no firing alert groups" if args.firing else "no alert groups")
            return 0
        rows = [
            (
                str(g.id),
                g.source,
                g.status,
                f"{g.firing}/{g.total}",
                g.channel or "-",
                reference(g.incident_id) if g.incident_id is not None else "-",
                g.acknowledged_by or "-",
                utc_text(g.last_seen_at),
                repr(g.title),
            )
            for g in groups
        ]
        widths = [max(len(r[i]) for r in [_COLUMNS, *rows]) for i in range(len(_COLUMNS))]
        for row in [(*_COLUMNS, "TITLE"), *rows]:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            print("  ".join([*cells, row[-1]]))
        return 0

    return asyncio.run(go())
