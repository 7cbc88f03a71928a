"""Resolving an incident resolves its pages outside Slack (issue 22, "resolution both
ways"): each page whose trigger went to PagerDuty gets a `resolve` with the trigger's
dedup_key, and the outgoing webhook hears `page.resolve` for each page it heard of.

Runs in the transaction that resolves (or closes) the incident, which holds the incident
row locked. The timeline is the record: a page's entry says where its trigger went
(`PageWriter.page`), and one entry per resolving lists the pages resolved, so resolving
again, or after a reopen, resolves only pages triggered since.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.domain.incident import Incident
from bot.domain.paging import TimelineKind
from bot.domain.timeline import TimelineEntry
from bot.services import paging_effects as fx
from bot.services.effects import Effect
from bot.services.page_writer import PageWriter
from storage.external_pages import ExternalPageLog
from storage.outbox import OutboxRepository
from storage.paging_repository import PagingRepository
from storage.repositories import TimelineRepository
from storage.session import Session

# The timeline entry of a resolving: {"pagerduty": [page ids], "webhook": [page ids]}.
EXTERNAL_RESOLVED = "external_resolved"
_CHANNELS = (fx.PAGERDUTY, fx.WEBHOOK)


async def resolve_external_pages(
    session: Session, writer: PageWriter, incident: Incident, now: datetime
) -> int:
    """Queue the resolves of the incident's pages not resolved yet outside Slack, and
    record them on the timeline; the number of PagerDuty alerts resolved."""
    allowed = writer.trigger_channels()  # the policy's switch and the configuration now
    if not allowed:
        return 0
    log = await ExternalPageLog(session).entries(
        incident.id, [TimelineKind.PAGE, EXTERNAL_RESOLVED]
    )
    triggered = {int(e.data["page"]): e for e in log if e.kind == TimelineKind.PAGE}
    done = _resolved(log)
    todo: dict[str, list[int]] = {kind: [] for kind in _CHANNELS}
    severities: dict[int, str] = {}
    for page in sorted(await PagingRepository(session).pages(incident.id), key=lambda p: p.id):
        entry = triggered.get(page.id)
        # A page paged before its entry said where it went: where pages go now.
        went = entry.data.get("external", allowed) if entry else allowed
        severities[page.id] = str((entry.data if entry else {}).get("severity") or "")
        for kind in _CHANNELS:
            if kind in went and kind in allowed and page.id not in done[kind]:
                todo[kind].append(page.id)
    if not any(todo.values()):
        return 0
    queued: list[Effect] = [
        (kind, fx.external_key(kind, page_id), _payload(incident, page_id, severities), incident.id)
        for kind in _CHANNELS
        for page_id in todo[kind]
    ]
    await OutboxRepository(session).enqueue_many(queued, now=now)
    await TimelineRepository(session).append(
        incident.id,
        EXTERNAL_RESOLVED,
        _text(len(todo[fx.PAGERDUTY]), len(todo[fx.WEBHOOK])),
        at=now,
        actor=None,
        data={"pagerduty": todo[fx.PAGERDUTY], "webhook": todo[fx.WEBHOOK]},
        source_key=_once(incident.id, todo),
    )
    return len(todo[fx.PAGERDUTY])


async def pagerduty_resolved_count(session: Session, incident_id: int) -> int:
    """How many of the incident's PagerDuty alerts (one per page) Firewatch resolved."""
    log = await ExternalPageLog(session).entries(incident_id, [EXTERNAL_RESOLVED])
    return len(_resolved(log)[fx.PAGERDUTY])


def _resolved(log: list[TimelineEntry]) -> dict[str, set[int]]:
    """The pages whose resolves were queued, per channel."""
    done: dict[str, set[int]] = {kind: set() for kind in _CHANNELS}
    for entry in log:
        if entry.kind == EXTERNAL_RESOLVED:
            done[fx.PAGERDUTY].update(int(i) for i in entry.data.get("pagerduty", ()))
            done[fx.WEBHOOK].update(int(i) for i in entry.data.get("webhook", ()))
    return done


def _once(incident_id: int, todo: dict[str, list[int]]) -> str:
    """One entry per resolving: a page is resolved once per channel, so two resolvings
    never share both channels' largest page ids."""
    largest = ":".join(str(max(todo[kind], default=0)) for kind in _CHANNELS)
    return f"resolved-pages:{incident_id}:{largest}"


def _payload(incident: Incident, page_id: int, severities: dict[int, str]) -> dict[str, Any]:
    # The severity the page was triggered at picks the trigger's routing key.
    severity = severities.get(page_id) or incident.severity
    return {
        "page_id": page_id,
        "incident_id": incident.id,
        "action": "resolve",
        "severity": severity,
    }


def _text(pagerduty: int, webhook: int) -> str:
    if pagerduty:
        return f"PagerDuty alerts resolved: {pagerduty}"
    return f"Pages resolved at the outgoing webhook: {webhook}"
