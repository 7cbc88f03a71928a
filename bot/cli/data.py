"""`firewatch` commands for the data lifecycle: purge, export-user, forget-user, backup,
restore. Registered on the main parser by `bot.cli.main.build_parser`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import URL, make_url

from bot.cli.offline import EXIT_CONFIG, Offline, offline
from bot.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from bot.services.lifecycle import LifecycleService


def add_data_commands(sub: Any) -> None:
    """Register this module's subcommands on the `firewatch` parser's subparsers."""
    purge = sub.add_parser("purge", help="delete what the policy's retention says is due")
    purge.add_argument("--dry-run", action="store_true", help="count per table, delete nothing")
    purge.set_defaults(handler=_purge)

    export = sub.add_parser("export-user", help="write everything stored about a person (JSON)")
    export.add_argument("user", help="Slack user id, e.g. U012ABC")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    export.set_defaults(handler=_export_user)

    forget = sub.add_parser(
        "forget-user", help="replace a person by a pseudonym and remove the text they wrote"
    )
    forget.add_argument("user", help="Slack user id, e.g. U012ABC")
    forget.add_argument("--yes", action="store_true", help="do it without asking")
    forget.set_defaults(handler=_forget_user)

    backup = sub.add_parser("backup", help="copy the SQLite database, consistently, while it runs")
    backup.add_argument("path", help="file to write the backup to")
    backup.set_defaults(handler=_backup)

    restore = sub.add_parser("restore", help="replace the SQLite database by a backup")
    restore.add_argument("path", help="a file written by `firewatch backup`")
    restore.add_argument(
        "--force", action="store_true", help="even if the database is in use (stop Firewatch first)"
    )
    restore.set_defaults(handler=_restore)


def _lifecycle(app: Offline, settings: Settings) -> LifecycleService:
    """The data-lifecycle use cases over the offline parts, signing with the audit key."""
    from bot.services.lifecycle import LifecycleService

    return LifecycleService(app.db, app.policy, app.clock, audit_key=settings.audit_key_bytes)


# --- purge ----------------------------------------------------------------------------


def _purge(args: argparse.Namespace) -> int:
    settings = load_settings()

    async def go() -> int:
        async with offline(settings) as app:
            report = await _lifecycle(app, settings).purge(dry_run=args.dry_run)
        retention = app.policy().retention
        print(
            "dry run: nothing deleted; this is what `firewatch purge` would remove"
            if report.dry_run
            else "purged"
        )
        rules = {
            "incidents": _rule("closed_incidents_days", retention.closed_incidents_days),
            "timeline_entries": _rule("timeline_days", retention.timeline_days),
            "slack_events": _rule("processed_events_days", retention.processed_events_days),
            "outbox": _rule("outbox_done_days", retention.outbox_done_days) + ", done/cancelled",
            "alert_groups": _rule("alerts_days", retention.alerts_days) + ", resolved, unlinked",
            "alerts": "with their groups",
            "alert_storms": "storm cards no group uses",
            "alert_silences": "a day after they end",
        }
        tables = list(rules) + sorted(set(report.counts) - set(rules))
        width = max(len(t) for t in tables)
        for table in tables:
            print(
                f"  {table.ljust(width)}  {report.counts.get(table, 0):>7}  {rules.get(table, '')}"
            )
        if report.incidents:
            print(f"incidents removed (each keeps a signed stub): {', '.join(report.incidents)}")
        if settings.audit_key_bytes is None and not report.dry_run and report.counts:
            print("note: FIREWATCH_AUDIT_KEY is not set: tombstones carry SHA-256 digests only")
        for ref in report.skipped:
            print(
                f"firewatch: {ref}: timeline chain is broken, not purged "
                f"(run `firewatch verify {ref}`)",
                file=sys.stderr,
            )
        return 1 if report.skipped else 0

    return asyncio.run(go())


def _rule(key: str, days: int | None) -> str:
    return f"retention.{key}: " + ("keep forever" if days is None else f"{days} days")


# --- a person's data --------------------------------------------------------------------


def _user(value: str) -> str:
    from bot.domain.retention import is_user_id

    user = value.strip().upper()
    if not is_user_id(user):
        raise ConfigError(f"{value!r} is not a Slack user id (U012ABC)")
    return user


def _export_user(args: argparse.Namespace) -> int:
    settings = load_settings()
    user = _user(args.user)

    async def go() -> int:
        async with offline(settings) as app:
            data = await _lifecycle(app, settings).export_user(user)
        text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
        if args.output:
            await asyncio.to_thread(Path(args.output).write_text, text, encoding="utf-8")
            found = len(data["timeline_entries"]) + sum(len(r) for r in data["records"].values())
            print(f"{found} records about {user} written to {args.output}", file=sys.stderr)
        else:
            sys.stdout.write(text)
        return 0

    return asyncio.run(go())


def _forget_user(args: argparse.Namespace) -> int:
    settings = load_settings()
    user = _user(args.user)

    async def go() -> int:
        from bot.services.lifecycle import ChainBroken, ForgetReport

        async with offline(settings) as app:
            service = _lifecycle(app, settings)

            def describe(r: ForgetReport) -> str:
                tables = {**r.rows_changed}
                parts = [f"{n} {t} row(s) rewritten" for t, n in sorted(tables.items())]
                parts += [f"{n} {t} row(s) deleted" for t, n in sorted(r.rows_deleted.items())]
                chains = (
                    f"{r.entries_rewritten} timeline entries in {', '.join(r.incidents)}"
                    if r.incidents
                    else "no timeline entries"
                )
                return f"{chains}; " + ("; ".join(parts) or "no other rows")

            try:
                plan = await service.forget_user(user, dry_run=True)
                if not plan.incidents and not plan.rows_changed and not plan.rows_deleted:
                    print(f"nothing stored names {user}")
                    return 0
                print(f"{user} will become {plan.pseudonym}: {describe(plan)}")
                if not args.yes:
                    if not sys.stdin.isatty():
                        print("firewatch: pass --yes to confirm", file=sys.stderr)
                        return EXIT_CONFIG
                    answer = await asyncio.to_thread(input, f"Forget {user}? Type yes: ")
                    if answer.strip().lower() != "yes":
                        print("nothing changed")
                        return 1
                done = await service.forget_user(user)
            except ChainBroken as exc:
                print(
                    f"firewatch: {exc}: timeline chain is broken; nothing changed "
                    f"(run `firewatch verify {exc}`)",
                    file=sys.stderr,
                )
                return 1
        print(f"forgotten: {describe(done)}")
        print("Slack keeps its own copies of messages; delete those in Slack if required.")
        return 0

    return asyncio.run(go())


# --- backup and restore ---------------------------------------------------------------


def _sqlite_path(settings: Settings, verb: str, path: str) -> Path:
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database)
    # No password on the command line: pg_dump/pg_restore read PGPASSWORD or ~/.pgpass.
    safe = URL.create(
        "postgresql", username=url.username, host=url.host, port=url.port, database=url.database
    ).render_as_string(hide_password=False)
    if verb == "backup":
        command = f"pg_dump --format=custom --no-owner --file={path} '{safe}'"
    else:
        command = (
            f"pg_restore --clean --if-exists --no-owner --single-transaction --dbname='{safe}' "
            f"{path}"
        )
    raise ConfigError(
        f"`firewatch {verb}` works on SQLite databases; for PostgreSQL run: {command} "
        "with the password in PGPASSWORD or ~/.pgpass (see docs/operations/deploy.md)"
    )


def _backup(args: argparse.Namespace) -> int:
    from storage.sqlite_files import inspect_sqlite, sqlite_backup

    settings = load_settings()
    source = _sqlite_path(settings, "backup", args.path)
    if not source.exists():
        raise ConfigError(f"there is no database at {source}")
    target = Path(args.path)
    if target.resolve() == source.resolve():
        raise ConfigError("the backup cannot overwrite the database itself")
    target.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(asyncio.to_thread(sqlite_backup, source, target))
    info = inspect_sqlite(target)
    if info.integrity != "ok":
        print(
            f"firewatch: the backup failed its integrity check: {info.integrity}", file=sys.stderr
        )
        return 1
    print(f"backed up {source} to {target} (schema {info.revision}, {_counts(info.counts)})")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from storage import migrate
    from storage.sqlite_files import inspect_sqlite, sqlite_in_use, sqlite_restore

    settings = load_settings()
    target = _sqlite_path(settings, "restore", args.path)
    backup = Path(args.path)
    if not backup.is_file():
        raise ConfigError(f"there is no backup at {backup}")
    try:
        info = inspect_sqlite(backup)
    except Exception as exc:  # noqa: BLE001 - any reason the file is not a database
        print(f"firewatch: {backup} is not a readable SQLite database: {exc}", file=sys.stderr)
        return 1
    if info.integrity != "ok":
        print(f"firewatch: {backup} fails its integrity check: {info.integrity}", file=sys.stderr)
        return 1
    known = _known_revisions(migrate)
    if info.revision is None or info.revision not in known:
        print(
            f"firewatch: {backup} has schema revision {info.revision or 'none'}, which this "
            f"version does not know (it knows {', '.join(sorted(known))}); nothing restored",
            file=sys.stderr,
        )
        return 1
    if sqlite_in_use(target) and not args.force:
        print(
            f"firewatch: {target} is in use (is Firewatch running?); stop it first, "
            "or pass --force",
            file=sys.stderr,
        )
        return 1
    sqlite_restore(backup, target)
    after = inspect_sqlite(target)
    print(f"restored {backup} into {target} (schema {after.revision}, {_counts(after.counts)})")
    if after.revision != migrate.head_revision():
        print("the schema is older than this version: run `firewatch migrate`")
    print("check the timelines with `firewatch verify`")
    return 0


def _known_revisions(migrate: Any) -> set[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config())
    return {rev.revision for rev in script.walk_revisions()}


def _counts(counts: dict[str, int]) -> str:
    main = ("incidents", "timeline_entries", "outbox")
    return ", ".join(f"{counts.get(t, 0)} {t}" for t in main)


__all__ = ["add_data_commands"]
