"""What must hold after any fault, once the replicas have recovered: the outbox and what
Slack shows agree, every message once, in order."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bot.slack.delivery.web_api import carried_ids
from tests.faults.cluster import Cluster


def posted_by_row(c: Cluster) -> dict[int, list[tuple[str, str]]]:
    """Outbox id → the (channel, ts) of every Slack message that carries it."""
    found: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for channel, messages in c.slack.state.messages.items():
        for message in messages:
            for row_id in carried_ids(message.as_dict()):
                if isinstance(row_id, int):
                    found[row_id].append((channel, message.ts))
    return found


async def agree(c: Cluster) -> None:
    """Raise AssertionError naming the first disagreement between the record and Slack."""
    await c.settled()
    rows = await c.outbox()
    dead = [(r.id, r.kind, r.last_error) for r in rows if r.status == "dead"]
    assert not dead, f"dead outbox rows: {dead}"
    posted = posted_by_row(c)
    twice = {row_id: where for row_id, where in posted.items() if len(where) > 1}
    assert not twice, f"outbox rows posted more than once: {twice}"
    # A kind that posts a message carries its rows' ids: each of its rows, once.
    kinds = {r.kind for r in rows if r.id in posted}
    missing = [
        (r.id, r.kind)
        for r in rows
        if r.kind in kinds and r.status == "delivered" and r.id not in posted
    ]
    assert not missing, f"delivered rows that Slack does not show: {missing}"
    # In order: the rows of one ordering key appear in the order they were written.
    by_key: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        if r.id in posted:
            by_key[r.ordering_key].append((r.id, float(posted[r.id][0][1])))
    for key, seq in by_key.items():
        shown = [row_id for row_id, _ in sorted(seq, key=lambda pair: pair[1])]
        assert shown == sorted(shown), f"{key}: shown out of order {shown}"
