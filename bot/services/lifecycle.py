"""Data lifecycle use cases: retention purges, a person's data (export, forget).

`run_purge` is what the daily scheduled job calls; `firewatch purge` calls
`LifecycleService.purge`. Both leave every timeline chain verifiable (see
bot/domain/retention.py for the tombstones).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bot.domain.clock import Clock
from bot.domain.incident import Status, reference
from bot.domain.policy import Policy
from bot.domain.retention import (
    PURGED_KEY_PREFIX,
    REMOVED_TEXT,
    Cutoffs,
    chain_problem,
    cutoffs,
    forget_in_chain,
    incident_tombstone,
    mentions,
    pseudonym,
    purgeable_prefix,
    replace_user,
    timeline_tombstone,
)
from bot.domain.timeline import EntryKind, TimelineEntry
from bot.services.alert_retention import purge_alerts
from bot.services.base import Service
from storage.engine import Database
from storage.lifecycle_repository import LifecycleRepository, string_columns
from storage.refusals import RefusalRepository
from storage.repositories import TimelineRepository

log = logging.getLogger(__name__)

BATCH = 1000

# Rows that exist only for the person: deleted rather than rewritten.
_DELETED_TABLES = frozenset({"absences", "declare_drafts"})
# Free text a person wrote into a row of these tables: (who column, text columns). The
# id is replaced everywhere else; the incident report and post-mortem answers are the
# organisation's record of the incident and are kept.
_AUTHORED_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pages": ("paged_by", ("message",)),
    "postmortems": ("decided_by", ("decision_note",)),
}


class ChainBroken(Exception):
    """A timeline chain is already broken: rewriting it would hide the break."""


@dataclass
class PurgeReport:
    dry_run: bool
    cutoffs: Cutoffs
    counts: dict[str, int] = field(default_factory=dict)  # table → rows removed
    incidents: list[str] = field(default_factory=list)  # purged whole
    timelines: dict[str, int] = field(default_factory=dict)  # ref → entries purged
    skipped: list[str] = field(default_factory=list)  # broken chains, left alone

    def add(self, table: str, n: int) -> None:
        if n:
            self.counts[table] = self.counts.get(table, 0) + n


@dataclass
class ForgetReport:
    user_id: str
    pseudonym: str
    incidents: list[str] = field(default_factory=list)  # chains rewritten
    entries_rewritten: int = 0
    rows_changed: dict[str, int] = field(default_factory=dict)
    rows_deleted: dict[str, int] = field(default_factory=dict)


class LifecycleService(Service):
    def __init__(
        self,
        db: Database,
        policy: Callable[[], Policy],
        clock: Clock,
        *,
        audit_key: bytes | None = None,
    ) -> None:
        super().__init__(db, policy, clock)
        self.audit_key = audit_key

    # --- retention --------------------------------------------------------------------

    async def purge(self, *, dry_run: bool = False) -> PurgeReport:
        """Apply the policy's `retention`; with `dry_run`, count what would go."""
        now = self.clock.now()
        report = PurgeReport(dry_run=dry_run, cutoffs=cutoffs(self._policy().retention, now))
        # Alerts first: groups a purged incident unlinks go at the next purge, as counted.
        alerts = await purge_alerts(self.db, report.cutoffs, dry_run=dry_run, batch=BATCH)
        for table, n in alerts.items():
            report.add(table, n)
        purged_whole = await self._purge_closed_incidents(report, now)
        await self._purge_timelines(report, now, exclude=purged_whole)
        await self._purge_housekeeping(report, purged_whole)
        log.info(
            "purge dry run" if dry_run else "purge done",
            extra={"counts": report.counts, "skipped": report.skipped},
        )
        return report

    async def _purge_closed_incidents(self, report: PurgeReport, now: datetime) -> set[int]:
        cutoff = report.cutoffs.closed_incidents
        done: set[int] = set()
        if cutoff is None:
            return done
        async with self.db.session(write=False) as session:
            ids = await LifecycleRepository(session).closed_before(cutoff)
        for incident_id in ids:
            async with self.db.session(write=not report.dry_run) as session:
                repo = LifecycleRepository(session)
                snap = await repo.lock_incident(incident_id)
                if (
                    snap is None
                    or snap.status != Status.CLOSED.value
                    or snap.closed_at is None
                    or snap.closed_at >= cutoff
                    or snap.declare_key.startswith(PURGED_KEY_PREFIX)
                ):
                    continue  # reopened or purged meanwhile (another replica)
                if chain_problem(await repo.chain(incident_id), self.audit_key) is not None:
                    report.skipped.append(reference(incident_id))
                    continue
                counts = await repo.children_counts([incident_id])
                report.add("incidents", 1)
                for table, n in counts.items():
                    report.add(table, n)
                report.incidents.append(reference(incident_id))
                done.add(incident_id)
                if report.dry_run:
                    continue
                tombstone = incident_tombstone(
                    incident_id=incident_id,
                    ref=reference(incident_id),
                    declared_at=snap.declared_at,
                    closed_at=snap.closed_at,
                    purged_at=now,
                    counts={"incidents": 1, **counts},
                    key=self.audit_key,
                )
                await repo.replace_incident_by_stub(snap, tombstone, now=now)
        return done

    async def _purge_timelines(self, report: PurgeReport, now: datetime, exclude: set[int]) -> None:
        cutoff = report.cutoffs.timeline
        if cutoff is None:
            return
        async with self.db.session(write=False) as session:
            ids = await LifecycleRepository(session).incidents_with_entries_before(cutoff)
        for incident_id in ids:
            if incident_id in exclude:
                continue
            async with self.db.session(write=not report.dry_run) as session:
                repo = LifecycleRepository(session)
                if await repo.lock_incident(incident_id) is None:
                    continue
                chain = await repo.chain(incident_id)
                n = purgeable_prefix(chain, cutoff)
                if n == 0:
                    continue
                if chain_problem(chain, self.audit_key) is not None:
                    report.skipped.append(reference(incident_id))
                    continue
                prefix = chain[:n]
                removed = n - (1 if prefix[0].kind == EntryKind.TOMBSTONE else 0)
                report.add("timeline_entries", removed)
                report.timelines[reference(incident_id)] = removed
                if not report.dry_run:
                    await repo.replace_prefix(
                        timeline_tombstone(prefix, purged_at=now, key=self.audit_key)
                    )

    async def _purge_housekeeping(self, report: PurgeReport, purged_whole: set[int]) -> None:
        events, outbox = report.cutoffs.processed_events, report.cutoffs.outbox_done
        if report.dry_run:
            async with self.db.session(write=False) as session:
                repo = LifecycleRepository(session)
                report.add("slack_events", await repo.count_events_before(events))
                report.add(
                    "outbox",
                    await repo.count_outbox_done_before(outbox, excluding=sorted(purged_whole)),
                )
            await self._purge_refusals(report)
            return
        while True:  # in batches: short write transactions the app can interleave with
            async with self.db.session() as session:
                n = await LifecycleRepository(session).delete_events_before(events, limit=BATCH)
            report.add("slack_events", n)
            if n < BATCH:
                break
        while True:
            async with self.db.session() as session:
                n = await LifecycleRepository(session).delete_outbox_done_before(
                    outbox, limit=BATCH
                )
            report.add("outbox", n)
            if n < BATCH:
                break
        await self._purge_refusals(report)

    async def _purge_refusals(self, report: PurgeReport) -> None:
        """Refusals are part of the audit trail: they go with the timeline's retention."""
        cutoff = report.cutoffs.timeline
        if cutoff is None:
            return
        if report.dry_run:
            async with self.db.session(write=False) as session:
                report.add("refusals", await RefusalRepository(session).count_before(cutoff))
            return
        while True:
            async with self.db.session() as session:
                n = await RefusalRepository(session).delete_before(cutoff, limit=BATCH)
            report.add("refusals", n)
            if n < BATCH:
                break

    # --- a person's data --------------------------------------------------------------

    async def export_user(self, user_id: str) -> dict[str, Any]:
        """Everything stored that names the person, as JSON-ready data."""
        now = self.clock.now()
        async with self.db.session(write=False) as session:
            repo = LifecycleRepository(session)
            entries = [
                e
                for incident_id in await repo.incidents_naming(user_id)
                for e in await repo.chain(incident_id)
                if mentions(_visible(e), user_id)
            ]
            tables = _confirmed(await repo.rows_naming(user_id), user_id)
        return {
            "user": user_id,
            "exported_at": now.isoformat(),
            "timeline_entries": [
                {
                    "incident": reference(e.incident_id),
                    "seq": e.seq,
                    "at": e.at.isoformat(),
                    "kind": str(e.kind),
                    "as": _roles(e, user_id),
                    "actor": e.actor,
                    "text": e.text,
                    "data": e.data,
                }
                for e in entries
            ],
            "records": {
                table: [
                    {
                        "named_in": [
                            c for c in string_columns(table) if mentions(row.get(c), user_id)
                        ],
                        "row": _jsonable(row),
                    }
                    for row in rows
                ]
                for table, rows in tables.items()
            },
        }

    async def forget_user(self, user_id: str, *, dry_run: bool = False) -> ForgetReport:
        """Replace the person by a pseudonym everywhere and remove the text they wrote.

        Timelines are rewritten from the first entry naming them and re-hashed, and each
        rewritten chain gets a signed `redacted` entry with its old and new head hashes.
        All in one transaction; a chain that is already broken stops it (ChainBroken).
        """
        alias = pseudonym(user_id, self.audit_key)
        report = ForgetReport(user_id=user_id, pseudonym=alias)
        now = self.clock.now()
        async with self.db.session(write=not dry_run) as session:
            repo = LifecycleRepository(session)
            ids = await repo.incidents_naming(user_id)
            if not dry_run:
                await repo.lock_incidents(ids)
            for incident_id in ids:
                chain = await repo.chain(incident_id)
                if chain_problem(chain, self.audit_key) is not None:
                    raise ChainBroken(reference(incident_id))
                rewrite = forget_in_chain(chain, user_id, alias, at=now, key=self.audit_key)
                if rewrite is None:
                    continue
                report.incidents.append(reference(incident_id))
                report.entries_rewritten += len(rewrite.changed)
                if dry_run:
                    continue
                await repo.rewrite_entries(rewrite.changed)
                await TimelineRepository(session).append(
                    incident_id=incident_id,
                    at=now,
                    kind=EntryKind.REDACTED,
                    actor=None,
                    text=rewrite.record_text,
                    data=rewrite.record_data,
                )
            for table, rows in _confirmed(await repo.rows_naming(user_id), user_id).items():
                for row in rows:
                    if table in _DELETED_TABLES:
                        report.rows_deleted[table] = report.rows_deleted.get(table, 0) + 1
                        if not dry_run:
                            await repo.delete_row(table, row)
                        continue
                    values = _forgotten_values(table, row, user_id, alias)
                    if not values:
                        continue
                    report.rows_changed[table] = report.rows_changed.get(table, 0) + 1
                    if not dry_run:
                        await repo.update_row(table, row, values)
        log.info(
            "person forgotten" if not dry_run else "forget dry run",
            extra={"pseudonym": alias, "incidents": report.incidents},
        )
        return report


async def run_purge(
    db: Database,
    policy: Callable[[], Policy],
    clock: Clock,
    *,
    audit_key: bytes | None = None,
) -> PurgeReport | None:
    """The daily purge job: applies the retention policy when `features.purge_job` is on
    (None when it is off). Safe to run on several replicas at once: each incident is
    purged under its row lock, and what another replica purged is skipped."""
    if not policy().features.purge_job:
        return None
    return await LifecycleService(db, policy, clock, audit_key=audit_key).purge()


# --- helpers ------------------------------------------------------------------------------


def _visible(entry: TimelineEntry) -> dict[str, Any]:
    return {"actor": entry.actor, "text": entry.text, "data": entry.data}


def _roles(entry: TimelineEntry, user_id: str) -> list[str]:
    roles = []
    if entry.actor == user_id:
        roles.append("actor")
    if entry.data.get("author") == user_id:
        roles.append("author")
    return roles or ["mentioned"]


def _confirmed(
    tables: dict[str, list[dict[str, Any]]], user_id: str
) -> dict[str, list[dict[str, Any]]]:
    """Keep rows that name the id exactly (LIKE also matches a longer id)."""
    out = {}
    for table, rows in tables.items():
        columns = string_columns(table)
        kept = [r for r in rows if any(mentions(r.get(c), user_id) for c in columns)]
        if kept:
            out[table] = kept
    return out


def _forgotten_values(table: str, row: dict[str, Any], user_id: str, alias: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    who, texts = _AUTHORED_COLUMNS.get(table, ("", ()))
    if who and row.get(who) == user_id:
        values.update({c: REMOVED_TEXT for c in texts if row.get(c)})
    if table == "incidents" and row.get("reporter_id") == user_id:
        checklist = dict(row.get("checklist") or {})
        if checklist.get("override_reason"):
            checklist["override_reason"] = REMOVED_TEXT
            values["checklist"] = checklist
    for column in string_columns(table):
        current = values.get(column, row.get(column))
        if mentions(current, user_id):
            values[column] = replace_user(current, user_id, alias)
    return values


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
