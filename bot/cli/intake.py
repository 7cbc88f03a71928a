"""`firewatch intake`: the declarations stored but not yet declared, and those moved
aside after failing FIREWATCH_INTAKE_MAX_ATTEMPTS times; `retry` puts them back in line.
Registered on the main parser by `bot.cli.main.build_parser`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from typing import Any

from bot.cli.offline import offline
from bot.config import load_settings


def add_intake_commands(sub: Any) -> None:
    """Register `firewatch intake list|retry` on the `firewatch` parser's subparsers."""
    parser = sub.add_parser("intake", help="declarations waiting or moved aside; retry them")
    intake_sub = parser.add_subparsers(dest="intake_command", required=True)
    listing = intake_sub.add_parser("list", help="list stored declarations not yet declared")
    listing.add_argument("--aside", action="store_true", help="only those moved aside")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(handler=_list)
    retry = intake_sub.add_parser("retry", help="put declarations moved aside back in line")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", type=int, help="the row's id (from `intake list`)")
    which.add_argument("--all", action="store_true", help="every row moved aside")
    retry.set_defaults(handler=_retry)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _list(args: argparse.Namespace) -> int:
    from storage import intake

    settings = load_settings()

    async def go() -> int:
        async with offline(settings) as app, app.db.session(write=False) as session:
            rows = await intake.listing(session, aside_only=args.aside, limit=args.limit)
            waiting, _ = await intake.stats(session)
            aside = await intake.set_aside_count(session)
        print(f"waiting {waiting}, moved aside {aside}")
        for row in rows:
            state = f"aside since {_when(row.set_aside_at)}" if row.set_aside_at else "waiting"
            retry = f" next try {_when(row.next_attempt_at)}" if row.next_attempt_at else ""
            error = f"  {row.last_error}" if row.last_error else ""
            print(
                f"{row.id:>6} {row.declare_key:<24} {row.reporter_id:<12} "
                f"received {_when(row.received_at)} attempts={row.attempts} {state}{retry}"
                f"  {row.title!r}{error}"
            )
        return 0

    return asyncio.run(go())


def _retry(args: argparse.Namespace) -> int:
    from storage import intake

    settings = load_settings()

    async def go() -> int:
        async with offline(settings) as app, app.db.session() as session:
            count = await intake.retry(session, None if args.all else args.id)
        if count == 0:
            print("firewatch: no declaration moved aside with that id", file=sys.stderr)
            return 1
        print(f"{count} declaration(s) back in line: a running Firewatch declares them")
        return 0

    return asyncio.run(go())
