"""The `firewatch` command: run, migrate, check-config, policy show, outbox, demo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from bot.config import ConfigError, Settings, load_settings
from bot.logs import configure_logging

log = logging.getLogger("firewatch")

EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_CONFIG
    try:
        result: int = args.handler(args)
        return result
    except ConfigError as exc:
        print(f"firewatch: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


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
    mig.set_defaults(handler=_migrate)

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
    outbox.set_defaults(handler=_outbox)

    demo = sub.add_parser("demo", help="play an incident against a local Slack emulator")
    demo.add_argument("--quiet", action="store_true", help="print only the verdict")
    demo.set_defaults(handler=_demo)
    return parser


def _settings() -> Settings:
    return load_settings()


def _run(_: argparse.Namespace) -> int:
    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    settings.require_slack_credentials()
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
    from bot.app import load_policy_or_fail

    settings = _settings()
    holder = load_policy_or_fail(settings)
    width = max(len(k) for k in settings.masked())
    for key, value in settings.masked().items():
        print(f"{key.ljust(width)}  {value}")
    print(f"{'policy'.ljust(width)}  {holder.source or 'built-in default'}")
    print(
        f"{'severities'.ljust(width)}  "
        + ", ".join(f"{k} ({s.label})" for k, s in holder.policy.severities.items())
    )
    problems = []
    try:
        settings.require_slack_credentials()
    except ConfigError as exc:
        problems.append(str(exc))
    for problem in problems:
        print(f"warning: {problem} (needed by `firewatch run`)", file=sys.stderr)
    print("configuration OK")
    return 0


def _policy_show(_: argparse.Namespace) -> int:
    from bot.app import load_policy_or_fail
    from bot.policy_file import dump_policy

    holder = load_policy_or_fail(_settings())
    sys.stdout.write(dump_policy(holder.policy))
    return 0


def _outbox(args: argparse.Namespace) -> int:
    settings = _settings()

    async def go() -> int:
        from bot.clock import SystemClock
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


def _demo(args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    return asyncio.run(run_demo(quiet=args.quiet))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
