"""The status page served by a running Firewatch (issue 24): on FIREWATCH_STATUS_PORT
only, and nothing else there; what it says follows the incidents, and never their
internal words."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.domain.clock import FrozenClock
from bot.domain.incident import Status
from bot.domain.status_page import ComponentState
from tests.support import Harness, status_page_harness

NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
POLICY = """
components:
  - {key: ssoe, name: SSOe, group: Login}
  - {key: sis, name: SiS, group: Login}
"""
INTERNAL_NOTE = "failover of db-prod-7 by Alice, see #inc-1-secret"


@pytest.fixture
async def h(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    clock = FrozenClock(NOW)
    async with status_page_harness(database_url, tmp_path / "policy.yaml", POLICY, clock) as h:
        yield h


async def get(port: int | None, path: str) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}{path}") as response:
            return response.status, await response.text(), dict(response.headers)


async def test_the_status_port_serves_the_page_only_and_the_main_port_not_at_all(
    h: Harness,
) -> None:
    assert h.app.status_port is not None
    assert h.app.status_port != h.app.port
    for path in ("/status", "/status.json", "/status.atom"):
        status, _, _ = await get(h.app.status_port, path)
        assert status == 200, path
        status, _, _ = await get(h.app.port, path)
        assert status == 404, path
    for path in ("/slack/events", "/metrics", "/health", "/alerts/alertmanager"):
        status, _, _ = await get(h.app.status_port, path)
        assert status == 404, path


async def test_an_outage_declared_in_slack_shows_then_clears_after_resolution(
    h: Harness,
) -> None:
    view = await h.open_declare_modal()
    await h.submit(view)
    [incident] = await h.incidents()
    await h.app.status_page.set_effects(
        incident.id, {"sis": ComponentState.MAJOR_OUTAGE}, actor="U0ALICE"
    )
    await h.app.notes.accept(incident.id, actor="U0ALICE", text=INTERNAL_NOTE, source_key="n1")
    await h.app.timeline.change_status(
        incident.id,
        Status.IDENTIFIED,
        actor="U0ALICE",
        update="internal: rolled back the LB config",
        public_update="SiS sign-in fails for some users; we are rolling back.",
    )
    status, body, headers = await get(h.app.status_port, "/status.json?component=sis")
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "*"
    answer = json.loads(body)
    assert answer["affected"] is True
    assert answer["state"] == "major_outage"
    assert answer["incidents"] == [f"INC-{incident.id}"]
    _, body, _ = await get(h.app.status_port, "/status.json?component=ssoe")
    assert json.loads(body)["affected"] is False  # seed 002: the banner for SiS users only
    _, html, _ = await get(h.app.status_port, "/status")
    _, atom, _ = await get(h.app.status_port, "/status.atom")
    for page in (html, atom):
        assert "we are rolling back" in page
        for internal in (incident.title, INTERNAL_NOTE, "rolled back the LB", "U0ALICE", "#inc"):
            assert internal not in page, internal

    h.app.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    await h.app.postmortems.resolve(incident.id, actor="U0ALICE", summary="LB config restored")
    _, body, _ = await get(h.app.status_port, "/status.json")
    document = json.loads(body)
    assert document["overall"]["state"] == "operational"
    assert document["incidents"] == []
    _, html, _ = await get(h.app.status_port, "/status")
    assert "This incident has been resolved." in html
    assert "LB config restored" not in html  # the resolution summary is internal
