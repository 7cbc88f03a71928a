"""The `firewatch` command: run, migrate, check-config, policy show, outbox, demo."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bot.cli.alerts import add_alert_commands
from bot.cli.intake import add_intake_commands
from bot.cli.offline import (
    EXIT_CONFIG,
    EXIT_UNAVAILABLE,
    UsageError,
    database_down,
    incident_number,
    offline,
    waiting_for_database,
)
from bot.cli.refusals import add_refusal_commands
from bot.config import ConfigError, Settings, load_settings
from bot.runtime.logs import configure_logging

log = logging.getLogger("firewatch")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_CONFIG
    try:
        if getattr(args, "repeatable", False):
            return waiting_for_database(
                lambda: int(args.handler(args)),
                wait_seconds=lambda: _settings().database_wait_seconds,
            )
        result: int = args.handler(args)
        return result
    except ConfigError as exc:
        print(f"firewatch: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except UsageError:
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the database down: one line, not a traceback
        why = database_down(exc)
        if why is None:
            raise
        print(f"firewatch: the database cannot be reached ({why})", file=sys.stderr)
        return EXIT_UNAVAILABLE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="firewatch", description="Incident response for Slack, driven by your policy."
    )
    sub = parser.add_subparsers(dest="command")

    run = sub.add_parser(
        "run", help="serve Slack (HTTP, or Socket Mode when SLACK_APP_TOKEN is set)"
    )
    run.set_defaults(handler=_run)

    mig = sub.add_parser("migrate", help="upgrade the database schema to this version")
    mig.set_defaults(handler=_migrate, repeatable=True)

    check = sub.add_parser("check-config", help="validate settings and policy; print them masked")
    check.set_defaults(handler=_check_config)

    policy = sub.add_parser("policy", help="the incident policy")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    show = policy_sub.add_parser("show", help="print the effective policy as YAML")
    show.set_defaults(handler=_policy_show)

    outbox = sub.add_parser("outbox", help="list Slack deliveries; re-send dead ones")
    outbox.add_argument("--status", choices=["pending", "done", "dead", "cancelled"], default=None)
    outbox.add_argument("--limit", type=int, default=50)
    outbox.add_argument("--resend", type=int, metavar="ID", help="queue a dead message again")
    outbox.set_defaults(handler=_outbox, repeatable=True)

    export = sub.add_parser("export", help="write an incident's record (report, timeline, changes)")
    export.add_argument("incident", help="INC-42 or 42")
    export.add_argument("--format", choices=["md", "json"], default="md")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    export.set_defaults(handler=_export, repeatable=True)

    verify = sub.add_parser("verify", help="check the timelines' hash chains")
    verify.add_argument("incident", nargs="?", help="INC-42 (default: every incident)")
    verify.set_defaults(handler=_verify, repeatable=True)

    _add_digest(sub)

    # Operational commands (data lifecycle, backups) live in their own module.
    from bot.cli.data import add_data_commands

    others = (add_data_commands, add_intake_commands, add_alert_commands, add_refusal_commands)
    for add_commands in others:
        add_commands(sub)

    demo = sub.add_parser("demo", help="play an incident against a local Slack emulator")
    demo.add_argument("--quiet", action="store_true", help="print only the verdict")
    demo.set_defaults(handler=_demo)
    return parser


def _add_digest(sub: Any) -> None:
    digest = sub.add_parser("digest", help="print the weekly review digest, or post it")
    digest.add_argument(
        "--from", dest="date_from", type=_date, help="first day, YYYY-MM-DD (local time)"
    )
    digest.add_argument("--to", dest="date_to", type=_date, help="last day, YYYY-MM-DD")
    digest.add_argument(
        "--post",
        action="store_true",
        help="queue it for the review channel (the running Firewatch posts it)",
    )
    digest.set_defaults(handler=_digest, repeatable=True)


def _settings() -> Settings:
    return load_settings()


def _run(_: argparse.Namespace) -> int:
    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    settings.require_slack_credentials()
    settings.require_audit_key()
    return asyncio.run(_serve(settings))


async def _serve(settings: Settings) -> int:
    from bot.app import Firewatch

    app = Firewatch(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, app.request_stop)
    try:
        await app.start()
    except ConfigError:
        await app.stop()
        raise
    # What start-up built (modules, the policy, SQLAlchemy's and Bolt's structures) lives
    # as long as the process: keep it out of the garbage collector's full passes, which
    # otherwise walk it all and stall answers for tens of milliseconds (p99).
    gc.freeze()
    try:
        await app.run_until_stopped()
    finally:
        log.info("firewatch stopping")
        await app.stop()
    return 0


def _migrate(_: argparse.Namespace) -> int:
    settings = _settings()
    configure_logging(settings.log_level, "text")

    async def go() -> str:
        from storage import migrate
        from storage.engine import Database

        db = Database(settings.effective_database_url)
        try:
            await migrate.upgrade(db.engine)
            return str(await migrate.current_revision(db.engine))
        finally:
            await db.dispose()

    print(f"database schema at revision {asyncio.run(go())}")
    return 0


def _check_config(_: argparse.Namespace) -> int:
    from bot.domain.clock import SystemClock
    from bot.policy.holder import load_policy_or_fail
    from bot.runtime.scheduler import upcoming_runs

    settings = _settings()
    holder = load_policy_or_fail(settings)
    # A bad cron is a ConfigError naming the key.
    schedules = upcoming_runs(holder.policy, settings.timezone, SystemClock().now())
    width = max(len(k) for k in settings.masked())
    for key, value in settings.masked().items():
        print(f"{key.ljust(width)}  {value}")
    print(f"{'policy'.ljust(width)}  {holder.source or 'built-in default'}")
    print(
        f"{'severities'.ljust(width)}  "
        + ", ".join(f"{k} ({s.label})" for k, s in holder.policy.severities.items())
    )
    print(f"{'schedules'.ljust(width)}  next runs in {settings.timezone}:")
    for line in schedules:
        print(f"{''.ljust(width)}    {line}")
    problems = []
    for require in (settings.require_slack_credentials, settings.require_audit_key):
        try:
            require()
        except ConfigError as exc:
            problems.append(str(exc))
    # The Slack scopes, the warnings and the verdict ("configuration OK" only when
    # nothing `firewatch run` needs is missing).
    from bot.cli.checks import verdict

    return verdict(settings, problems, label_width=width)


def _policy_show(_: argparse.Namespace) -> int:
    from bot.domain.clock import SystemClock
    from bot.policy.holder import load_policy_or_fail
    from bot.policy.loader import dump_policy
    from bot.runtime.scheduler import upcoming_runs

    settings = _settings()
    holder = load_policy_or_fail(settings)
    sys.stdout.write(dump_policy(holder.policy))
    # As YAML comments, so the output stays a policy file.
    sys.stdout.write(f"# Next runs of the schedules in {settings.timezone}:\n")
    for line in upcoming_runs(holder.policy, settings.timezone, SystemClock().now()):
        sys.stdout.write(f"#   {line}\n")
    return 0


def _outbox(args: argparse.Namespace) -> int:
    settings = _settings()

    async def go() -> int:
        from bot.domain.clock import SystemClock
        from storage.engine import Database
        from storage.outbox import OutboxRepository

        db = Database(settings.effective_database_url)
        try:
            async with db.session() as session:
                repo = OutboxRepository(session)
                if args.resend is not None:
                    if await repo.requeue(args.resend, now=SystemClock().now()):
                        print(f"outbox message {args.resend} queued again")
                        return 0
                    print(f"outbox message {args.resend} is not dead or cancelled", file=sys.stderr)
                    return 1
                rows = await repo.listing(args.status, args.limit)
                stats = await repo.stats()
            print(f"pending {stats.pending}, dead {stats.dead}")
            for row in rows:
                error = f"  {row.last_error}" if row.last_error else ""
                print(
                    f"{row.id:>6} {row.status:<9} {row.kind:<26} {row.ordering_key:<16} "
                    f"attempts={row.attempts}{error}"
                )
            return 0
        finally:
            await db.dispose()

    return asyncio.run(go())


def _export(args: argparse.Namespace) -> int:
    settings = _settings()
    number = incident_number(args.incident)

    async def go() -> int:
        from bot.services.changes import ChangeService
        from bot.services.export import incident_record, to_json, to_markdown
        from bot.services.incidents import IncidentNotFound, IncidentService
        from bot.services.postmortems import PostmortemService
        from bot.services.timeline import TimelineService

        async with offline(settings) as app:
            incidents = IncidentService(app.db, app.policy, app.clock, broadcast_channel=None)
            try:
                incident = await incidents.get(number)
            except IncidentNotFound:
                print(f"firewatch: there is no INC-{number}", file=sys.stderr)
                return 1
            entries = await TimelineService(
                app.db, app.policy, app.clock, broadcast_channel=None
            ).entries(number)
            changes = await ChangeService(app.db, app.policy, app.clock).for_incident(number)
            timeline = TimelineService(app.db, app.policy, app.clock, broadcast_channel=None)
            postmortem = await PostmortemService(
                app.db, app.policy, app.clock, timeline
            ).get_for_incident(number)
            record = incident_record(incident, entries, changes, postmortem)
            text = to_json(record) if args.format == "json" else to_markdown(record)
        if args.output:
            await asyncio.to_thread(Path(args.output).write_text, text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return 0

    return asyncio.run(go())


def _verify(args: argparse.Namespace) -> int:
    settings = _settings()
    number = incident_number(args.incident) if args.incident else None

    async def go() -> int:
        from bot.services.timeline import TimelineService

        async with offline(settings) as app:
            problems = await TimelineService(
                app.db,
                app.policy,
                app.clock,
                broadcast_channel=None,
                audit_key=settings.audit_key_bytes,
            ).verify(number)
        for p in problems:
            print(f"{p.incident_ref}: chain broken at entry #{p.seq} ({p.at.isoformat()})")
        if problems:
            return 1
        print("every timeline chain is intact" if number is None else f"INC-{number}: chain intact")
        return 0

    return asyncio.run(go())


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _digest(args: argparse.Namespace) -> int:
    """Without dates: since the last weekly meeting until now, as `/incident digest`."""
    settings = _settings()

    async def go() -> int:
        from bot.services.digest import DigestService, as_text

        async with offline(settings) as app:
            service = DigestService(app.db, app.policy, app.clock, timezone=settings.timezone)
            if args.date_from or args.date_to:
                last = args.date_to or service.today(app.clock.now())
                first = args.date_from or last - timedelta(days=6)
                if first > last:
                    print("firewatch: --from is after --to", file=sys.stderr)
                    return EXIT_CONFIG
                period = service.dates_period(first, last)
            else:
                period = service.current_period()
            if args.post:
                try:
                    row = await service.post(period)
                except ValueError as exc:
                    print(f"firewatch: {exc}", file=sys.stderr)
                    return EXIT_CONFIG
                channel = app.policy().schedules.weekly_digest.channel
                queued = "was already queued" if row.already else "queued"
                print(f"digest {queued} for {channel} (outbox {row.id}); Firewatch posts it")
                return 0
            built = await service.build(period.start, period.end)
            sys.stdout.write(as_text(built, app.policy(), service.zone))
            return 0

    return asyncio.run(go())


def _demo(args: argparse.Namespace) -> int:
    from bot.cli.demo import run_demo

    return asyncio.run(run_demo(quiet=args.quiet))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
