"""Nothing dropped in silence at the declaration intake (issue 21 item 4).

A declaration the current policy cannot make as submitted is made with a fallback and
marked "needs triage", and the reporter is told; a stored submission whose declaring
keeps failing is tried again with back-off, moved aside after FIREWATCH_INTAKE_MAX_ATTEMPTS
tries (shown in /health and `firewatch intake list`), and never holds back the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from bot.cli.main import main
from bot.domain.clock import FrozenClock
from storage import intake
from tests.scenarios.test_declaration_intake import store, stored_submissions, submission
from tests.support import Harness, start_harness


async def eventually(
    check: Callable[[], Awaitable[bool]], harness: Harness, seconds: float = 5
) -> None:
    """Wait (bounded, wall clock) for the running intake to get somewhere."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await check():
        assert loop.time() < deadline, "the intake did not get there in time"
        harness.app.intake.wake()
        await asyncio.sleep(0.02)


def poison(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Declaring a report titled "Poison" always fails (a bug, a constraint, anything)."""
    incidents = harness.app.incidents
    real = incidents.declare_in

    async def failing_on_poison(session: Any, report: Any, **kwargs: Any) -> Any:
        if report.title.startswith("Poison"):
            raise RuntimeError("a bug in declaring")
        return await real(session, report, **kwargs)

    monkeypatch.setattr(incidents, "declare_in", failing_on_poison)


async def health(harness: Harness) -> dict[str, Any]:
    url = f"http://127.0.0.1:{harness.app.port}/health"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        payload: dict[str, Any] = await response.json()
        return payload


async def test_a_severity_removed_by_a_reload_declares_with_the_fallback_and_says_so(
    harness: Harness,
) -> None:
    """The reporter chose sev1 and saw the form close; a reload then removed sev1."""
    policy = harness.app.policy.policy
    without_sev1 = {k: v for k, v in policy.severities.items() if k != "sev1"}
    harness.app.policy.policy = policy.model_copy(update={"severities": without_sev1})
    await store(
        harness.app.db, [("view:VRELOAD", submission("Checkout down"))], now=harness.app.clock.now()
    )

    await harness.declared()
    await harness.settled()

    [incident] = await harness.incidents()
    assert incident.title == "Checkout down"
    assert incident.severity == "sev3"  # no declare.fallback_severity: the least severe
    assert incident.checklist["needs_triage"] == {"submitted": "sev1", "severity": "sev3"}
    # The timeline says so.
    [triage] = [e for e in await harness.timeline() if "Needs triage" in e.text]
    assert "'sev1'" in triage.text
    assert "SEV3" in triage.text
    # The report carries the mark (SEV3 opens no channel: it is posted in #incidents).
    assert incident.channel_id is None
    reports = [m for m in harness.slack.messages("#incidents") if "Needs triage" in str(m.blocks)]
    assert len(reports) == 1
    # The reporter is told, privately.
    told = [m.text for m in harness.slack.messages("U0ALICE")] + [
        e.text for e in harness.slack.ephemerals(user="U0ALICE")
    ]
    assert any(incident_ref(incident.id) in t and "needs triage" in t for t in told), told


async def test_the_policy_names_the_fallback_severity(harness: Harness) -> None:
    policy = harness.app.policy.policy
    without_sev1 = {k: v for k, v in policy.severities.items() if k != "sev1"}
    declare = policy.declare.model_copy(update={"fallback_severity": "sev2"})
    harness.app.policy.policy = policy.model_copy(
        update={"severities": without_sev1, "declare": declare}
    )
    await store(
        harness.app.db, [("view:VRELOAD", submission("Checkout down"))], now=harness.app.clock.now()
    )
    await harness.declared()
    await harness.settled()
    [incident] = await harness.incidents()
    assert incident.severity == "sev2"
    assert incident.checklist["needs_triage"] == {"submitted": "sev1", "severity": "sev2"}


def incident_ref(number: int) -> str:
    return f"INC-{number}"


async def test_sixty_failing_submissions_do_not_hold_back_a_good_one(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    poison(harness, monkeypatch)
    rows = [(f"view:VPOISON{i}", submission(f"Poison {i}")) for i in range(60)]
    rows.append(("view:VGOOD", submission("Good one")))
    await store(harness.app.db, rows, now=harness.app.clock.now())

    async def declared() -> bool:
        return bool(await harness.incidents())

    await eventually(declared, harness)  # no clock moved: no back-off waited out

    assert [i.title for i in await harness.incidents()] == ["Good one"]
    assert len(await stored_submissions(harness)) == 60  # kept, waiting to be tried again


async def test_a_submission_that_keeps_failing_is_moved_aside_and_shown(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = FrozenClock(datetime(2026, 12, 6, 9, 0, tzinfo=UTC))
    async with start_harness(database_url, clock=clock, FIREWATCH_INTAKE_MAX_ATTEMPTS=3) as h:
        poison(h, monkeypatch)
        await store(h.app.db, [("view:VPOISON", submission("Poison pill"))], now=clock.now())

        async def attempts(n: int) -> None:
            async def reached() -> bool:
                [row] = await stored_submissions(h)
                return row.attempts >= n

            await eventually(reached, h)

        await attempts(1)
        [row] = await stored_submissions(h)
        assert row.set_aside_at is None
        assert row.next_attempt_at is not None
        assert row.last_error == "RuntimeError: a bug in declaring"
        await asyncio.sleep(0.1)  # the back-off holds: no second try before it ends
        assert [r.attempts for r in await stored_submissions(h)] == [1]
        for n in (2, 3):
            clock.advance(timedelta(minutes=5))
            await attempts(n)
        [row] = await stored_submissions(h)
        assert row.set_aside_at == clock.now()

        payload = await health(h)
        assert payload["status"] == "degraded"
        assert payload["components"]["declaration_intake"] == {
            "status": "degraded",
            "pending": 0,
            "oldest_pending_age_seconds": 0.0,
            "set_aside": 1,
        }
        # Moved aside: no more tries.
        clock.advance(timedelta(hours=1))
        h.app.intake.wake()
        await asyncio.sleep(0.1)
        assert [r.attempts for r in await stored_submissions(h)] == [3]

        # The operator's listing, and putting it back in line.
        monkeypatch.setenv("FIREWATCH_DATABASE_URL", database_url)
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["intake", "list", "--aside"]) == 0
        out = capsys.readouterr().out
        assert "waiting 0, moved aside 1" in out
        for shown in ("view:VPOISON", "attempts=3", "'Poison pill'"):
            assert shown in out
        assert "RuntimeError: a bug in declaring" in out
        assert await asyncio.to_thread(main, ["intake", "retry", str(row.id)]) == 0
        async with h.app.db.session(write=False) as session:
            assert await intake.set_aside_count(session) == 0
        assert await asyncio.to_thread(main, ["intake", "retry", "999"]) == 1
