"""The weekly meeting: the digest in #incident-review, the agenda's answers, the reminder
DMs, and exactly-once runs across restarts, processes, misfires and DST.

Scheduled times are reached with a FrozenClock and `JobRunner.run`/`catch_up` (what the
APScheduler trigger and the start call); nothing sleeps waiting for a schedule.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.config import ConfigError
from bot.domain.clock import FrozenClock
from bot.domain.policy import Schedule
from bot.emulator import SlackEmulator
from bot.policy.loader import load_policy
from bot.runtime.scheduler import Scheduler, triggers
from bot.services.digest import POST_DIGEST, DigestService
from bot.services.jobs import JobRunner, Outcome
from bot.slack.blocks.digest import MAX_BLOCKS
from bot.slack.ids import Action, meeting_block_id
from storage import migrate
from storage.engine import Database
from storage.models import IncidentRow, OutboxRow
from storage.paging_models import BreachRow
from storage.postmortem_models import ActionItemRow, JobRunRow, MeetingAnswerRow, PostmortemRow
from tests.support import PG_ENV, TOKEN, Harness, start_harness

MONDAY = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)  # the meeting, 10:00 in UTC
LAST_MONDAY = MONDAY - timedelta(days=7)
FRIDAY = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)
REVIEW = "incident-review"
USERS = ("U0BOB", "U0CAROL", "U0DAVE", "U0ERIN")
POLICY = load_policy(None).policy


@pytest.fixture
async def slack() -> AsyncIterator[SlackEmulator]:
    emulator = SlackEmulator(bot_token=TOKEN)
    await emulator.start()
    emulator.add_channel(REVIEW)
    for user in USERS:
        emulator.add_user(user, user.lower(), f"{user.lower()}@example.com")
    try:
        yield emulator
    finally:
        await emulator.stop()


@asynccontextmanager
async def running(
    database_url: str, slack: SlackEmulator, clock: FrozenClock, **settings: Any
) -> AsyncIterator[Harness]:
    async with start_harness(
        database_url,
        clock=clock,
        emulator=slack,
        FIREWATCH_PAGING_TICK_SECONDS=3600,
        **settings,
    ) as harness:
        harness.app.worker.not_ready_delay = 0.0
        yield harness


# --- the record, built by hand -------------------------------------------------------------


async def add_incident(
    db: Database,
    number: int,
    *,
    declared: datetime,
    severity: str = "sev1",
    resolved: datetime | None = None,
    acknowledged: datetime | None = None,
    kind: str = "incident",
    reporter: str = "U0DAVE",
) -> None:
    async with db.session() as session:
        session.add(
            IncidentRow(
                id=number,
                declare_key=f"test:{number}",
                kind=kind,
                title=f"Incident {number}",
                nature="n",
                discovery="monitoring_alert",
                impact="i",
                evidence="",
                severity=severity,
                status="resolved" if resolved else "investigating",
                reporter_id=reporter,
                checklist={},
                channel_status="none",
                declared_at=declared,
                acknowledged_at=acknowledged,
                resolved_at=resolved,
                updated_at=declared,
            )
        )


async def add_postmortem(
    db: Database, pm_id: int, incident: int, status: str, owner: str, due: datetime
) -> None:
    async with db.session() as session:
        session.add(
            PostmortemRow(
                id=pm_id,
                incident_id=incident,
                status=status,
                owner_id=owner,
                requested_at=due - timedelta(days=5),
                due_at=due,
                assessments={},
                submitted_by=owner if status == "submitted" else None,
                submitted_at=due - timedelta(days=1) if status == "submitted" else None,
                updated_at=due,
            )
        )


async def add_action_item(
    db: Database, item_id: int, pm_id: int, incident: int, owner: str, due: date
) -> None:
    async with db.session() as session:
        session.add(
            ActionItemRow(
                id=item_id,
                postmortem_id=pm_id,
                incident_id=incident,
                text=f"Follow-up {item_id}",
                owner_id=owner,
                due_on=due,
                status="open",
                created_at=LAST_MONDAY,
            )
        )


async def build_week(db: Database) -> None:
    """Last week: one post-mortem to review, one draft, one never asked for, a breach, a
    non-incident report and an overdue action item."""
    await add_incident(db, 1, declared=LAST_MONDAY + timedelta(hours=2), resolved=FRIDAY)
    await add_postmortem(db, 10, 1, "submitted", "U0CAROL", MONDAY)
    await add_incident(db, 2, declared=LAST_MONDAY + timedelta(days=1), resolved=FRIDAY)
    await add_postmortem(db, 11, 2, "draft", "U0BOB", FRIDAY + timedelta(days=1))
    await add_incident(db, 3, declared=LAST_MONDAY + timedelta(days=2), resolved=FRIDAY)
    await add_incident(db, 4, declared=FRIDAY, severity="sev2")
    async with db.session() as session:
        session.add(
            BreachRow(
                incident_id=4,
                severity="sev2",
                deadline=FRIDAY + timedelta(hours=1),
                recorded_at=FRIDAY + timedelta(hours=1),
            )
        )
    await add_incident(db, 5, declared=FRIDAY, kind="non_incident", reporter="U0ERIN")
    await add_action_item(db, 100, 11, 2, "U0ERIN", date(2026, 3, 4))


async def rows(db: Database, model: Any) -> list[Any]:
    async with db.session(write=False) as session:
        return list((await session.execute(select(model).order_by(model.id))).scalars())


def review_messages(slack: SlackEmulator) -> list[Any]:
    return [m for m in slack.messages(REVIEW) if "Weekly incident review" in m.text]


def element(blocks: list[Any], action_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    for block in blocks:
        for el in block.get("elements", []):
            if el.get("action_id") == action_id:
                return block, el
    raise AssertionError(f"no {action_id} in the message")


# --- the digest -----------------------------------------------------------------------------


async def test_the_digest_is_posted_once_with_buttons_and_the_agenda(
    database_url: str, slack: SlackEmulator
) -> None:
    clock = FrozenClock(MONDAY - timedelta(minutes=30))
    async with running(database_url, slack, clock) as h:
        await build_week(h.app.db)
        clock.set(MONDAY + timedelta(seconds=2))
        first = await h.app.jobs.run("weekly_digest", now=clock.now())
        again = await h.app.jobs.run("weekly_digest", now=clock.now())
        await h.settled()
    assert first is not None
    assert (first.outcome, first.scheduled_for, first.messages) == (Outcome.RAN, MONDAY, 1)
    assert again is None
    [message] = review_messages(slack)
    blocks = message.blocks or []
    assert len(blocks) <= MAX_BLOCKS
    text = json.dumps(blocks)
    for part in (
        "Incidents declared",
        "Post-mortems to review",
        "Post-mortems not submitted",
        "Non-incident reports",
        "Response-time breaches",
        "Response times",
        "Overdue action items",
    ):
        assert part in text, part
    assert "INC-3" in text  # resolved without a post-mortem
    assert "<@U0BOB>" in text  # owes the draft
    assert "Posted late" not in text
    block, approve = element(blocks, Action.POSTMORTEM_APPROVE)
    assert approve["value"] == "10"
    _, changes = element(blocks, Action.POSTMORTEM_CHANGES)
    assert changes["value"] == "10"
    _, agenda = element(blocks, Action.MEETING_AGENDA)
    assert agenda["type"] == "checkboxes"
    assert [o["value"] for o in agenda["options"]] == [
        q.key for q in POLICY.postmortem.meeting_agenda
    ]
    assert all(len(o["text"]["text"]) <= 75 for o in agenda["options"])
    assert block["block_id"] == meeting_block_id("2026-03-09T10:00+00:00", 10)


async def test_agenda_answers_are_stored_per_meeting(
    database_url: str, slack: SlackEmulator
) -> None:
    clock = FrozenClock(MONDAY - timedelta(minutes=30))
    async with running(database_url, slack, clock) as h:
        await build_week(h.app.db)
        clock.set(MONDAY)
        await h.app.jobs.run("weekly_digest", now=clock.now())
        await h.settled()
        [message] = review_messages(slack)
        block, agenda = element(message.blocks or [], Action.MEETING_AGENDA)

        async def tick(*keys: str, user: str = "U0ALICE") -> None:
            selected = [o for o in agenda["options"] if o["value"] in keys]
            response = await h.sender.interactive(
                {
                    "type": "block_actions",
                    "user": {"id": user},
                    "team": {"id": "T0TEAM"},
                    "api_app_id": "A0FIREWATCH",
                    "trigger_id": "1.2.3",
                    "container": {"type": "message", "message_ts": message.ts},
                    "channel": {"id": message.channel},
                    "message": {"ts": message.ts, "blocks": message.blocks},
                    "actions": [
                        {
                            "type": "checkboxes",
                            "action_id": Action.MEETING_AGENDA,
                            "block_id": block["block_id"],
                            "selected_options": selected,
                            "action_ts": "1.0",
                        }
                    ],
                }
            )
            assert response.status == 200, response.text

        await tick("handled_better", "alerts_appropriate")
        await tick("alerts_appropriate", "new_test_case", user="U0BOB")
        answers = await rows(h.app.db, MeetingAnswerRow)
        ticked = {a.question for a in answers if a.checked}
        assert {a.meeting for a in answers} == {"2026-03-09T10:00+00:00"}
        assert {a.postmortem_id for a in answers} == {10}
        assert len(answers) == len(POLICY.postmortem.meeting_agenda)  # one per question
        assert ticked == {"alerts_appropriate", "new_test_case"}
        assert {a.answered_by for a in answers} == {"U0BOB"}


async def test_digest_preview_is_ephemeral(database_url: str, slack: SlackEmulator) -> None:
    clock = FrozenClock(MONDAY - timedelta(minutes=30))
    async with running(database_url, slack, clock) as h:
        await build_week(h.app.db)
        response = await h.sender.slash_command("digest")
        assert response.status == 200
        body = response.json()
        outbox = await h.outbox()
    assert body["response_type"] == "ephemeral"
    text = json.dumps(body["blocks"])
    assert "(preview)" in text
    assert Action.POSTMORTEM_APPROVE in text
    assert Action.MEETING_AGENDA not in text  # answers belong to a posted meeting
    assert not [row for row in outbox if row.kind == POST_DIGEST]


# --- reminders ------------------------------------------------------------------------------


async def test_reminders_dm_the_owners_of_missing_or_unsubmitted_post_mortems(
    database_url: str, slack: SlackEmulator
) -> None:
    clock = FrozenClock(FRIDAY - timedelta(minutes=30))
    async with running(database_url, slack, clock) as h:
        await build_week(h.app.db)
        clock.set(FRIDAY + timedelta(seconds=30))
        result = await h.app.jobs.run("postmortem_reminder", now=clock.now())
        await h.settled()
        outbox = [r for r in await h.outbox() if r.kind == "digest.postmortem_reminder"]
    assert result is not None
    assert result.outcome is Outcome.RAN
    assert sorted(r.ordering_key for r in outbox) == ["dm:U0BOB", "dm:U0DAVE"]
    bob = slack.messages("U0BOB")
    assert len(bob) == 1
    assert "INC-2" in json.dumps(bob[0].blocks)
    dave = json.dumps(slack.messages("U0DAVE")[0].blocks)
    assert "INC-3" in dave  # resolved without a post-mortem: the reporter is asked
    assert "not requested yet" in dave
    assert slack.messages("U0CAROL") == []  # hers is submitted


async def test_followup_reminder_dms_owners_of_overdue_action_items(
    database_url: str, slack: SlackEmulator
) -> None:
    clock = FrozenClock(MONDAY - timedelta(hours=2))
    async with running(database_url, slack, clock) as h:
        await build_week(h.app.db)
        nine = MONDAY - timedelta(hours=1)
        clock.set(nine)
        result = await h.app.jobs.run("followup_reminder", now=nine)
        await h.settled()
    assert result is not None
    assert result.messages == 1
    [dm] = slack.messages("U0ERIN")
    assert "Follow-up 100" in json.dumps(dm.blocks)
    accessory = next(b["accessory"] for b in dm.blocks or [] if "accessory" in b)
    assert (accessory["action_id"], accessory["value"]) == (Action.FOLLOWUP_DONE, "100")


# --- exactly once ---------------------------------------------------------------------------


async def test_exactly_once_across_a_restart(database_url: str, slack: SlackEmulator) -> None:
    clock = FrozenClock(MONDAY - timedelta(minutes=30))
    async with running(database_url, slack, clock) as h:
        await build_week(h.app.db)
        clock.set(MONDAY)
        assert await h.app.jobs.run("weekly_digest", now=MONDAY) is not None
        await h.settled()
    # Restarted 30 s later: the start's catch-up finds the run claimed.
    clock.set(MONDAY + timedelta(seconds=30))
    async with running(database_url, slack, clock) as h:
        await h.settled()
        runs = [r for r in await rows(h.app.db, JobRunRow) if r.job == "weekly_digest"]
    assert len(review_messages(slack)) == 1
    assert [(r.scheduled_for, r.outcome) for r in runs] == [
        (LAST_MONDAY, "skipped"),  # the very first start: nothing to catch up
        (MONDAY, "ran"),
    ]


async def test_two_runners_on_one_database_run_once(database_url: str) -> None:
    db_a, db_b = Database(database_url), Database(database_url)
    try:
        await migrate.upgrade(db_a.engine)
        clock = FrozenClock(MONDAY)
        runners = [
            JobRunner(db, lambda: POLICY, clock, "UTC", f"worker-{n}")
            for n, db in enumerate((db_a, db_b))
        ]
        results = await asyncio.gather(*(r.run("weekly_digest", now=MONDAY) for r in runners))
        digests = [r for r in await rows(db_a, OutboxRow) if r.kind == POST_DIGEST]
    finally:
        await db_a.dispose()
        await db_b.dispose()
    assert sum(r is not None for r in results) == 1
    assert len(digests) == 1


@pytest.mark.skipif(
    not os.environ.get(PG_ENV), reason="needs PostgreSQL (FIREWATCH_TEST_DATABASE_URL)"
)
async def test_two_processes_on_postgresql_race_to_one_digest(database_url: str) -> None:
    engines = [Database(database_url) for _ in range(4)]
    try:
        await migrate.upgrade(engines[0].engine)
        clock = FrozenClock(MONDAY + timedelta(seconds=1))
        runners = [
            JobRunner(db, lambda: POLICY, clock, "UTC", f"process-{n}")
            for n, db in enumerate(engines)
        ]
        for _ in range(3):  # the same scheduled time, again and again
            results = await asyncio.gather(
                *(r.run("weekly_digest", now=clock.now()) for r in runners)
            )
            clock.advance(timedelta(seconds=5))
        digests = [r for r in await rows(engines[0], OutboxRow) if r.kind == POST_DIGEST]
        runs = await rows(engines[0], JobRunRow)
    finally:
        for db in engines:
            await db.dispose()
    assert sum(r is not None for r in results) == 0  # the last round found it claimed
    assert len(digests) == 1
    assert [(r.job, r.scheduled_for) for r in runs] == [("weekly_digest", MONDAY)]


# --- misfires -------------------------------------------------------------------------------


async def lived_before(db_url: str) -> None:
    """Firewatch ran last week (so a catch-up at start is a restart, not a first start)."""
    db = Database(db_url)
    try:
        await migrate.upgrade(db.engine)
        async with db.session() as session:
            for job, at in (
                ("weekly_digest", LAST_MONDAY),
                ("postmortem_reminder", FRIDAY),
                ("followup_reminder", FRIDAY - timedelta(hours=1)),
            ):
                session.add(
                    JobRunRow(
                        job=job, scheduled_for=at, outcome="ran", ran_at=at, claimed_by="before"
                    )
                )
    finally:
        await db.dispose()


async def test_down_at_ten_up_at_half_past_posts_once_saying_it_is_late(
    database_url: str, slack: SlackEmulator
) -> None:
    await lived_before(database_url)
    clock = FrozenClock(MONDAY + timedelta(minutes=30))
    async with running(database_url, slack, clock) as h:
        await h.settled()
    clock.advance(timedelta(minutes=5))
    async with running(database_url, slack, clock) as h:  # and once more: nothing new
        await h.settled()
        runs = [r for r in await rows(h.app.db, JobRunRow) if r.scheduled_for == MONDAY]
    [message] = review_messages(slack)
    # when, in each reader's time zone; 10:00 in the policy's for clients without dates
    down_at = (
        f"<!date^{int(MONDAY.timestamp())}^{{date_short_pretty}} {{time}}|2026-03-09 10:00 UTC>"
    )
    assert f"Posted late: Firewatch was down at {down_at}" in json.dumps(message.blocks)
    assert [(r.job, r.outcome) for r in runs] == [("weekly_digest", "late")]


async def test_past_the_grace_period_the_miss_is_recorded_and_nothing_posted(
    database_url: str, slack: SlackEmulator
) -> None:
    await lived_before(database_url)
    clock = FrozenClock(MONDAY + timedelta(hours=2))
    async with running(database_url, slack, clock) as h:
        await h.settled()
        runs = [r for r in await rows(h.app.db, JobRunRow) if r.scheduled_for == MONDAY]
        outbox = await h.outbox()
    assert POLICY.schedules.misfire_grace_minutes == 60
    assert [(r.job, r.outcome) for r in runs] == [("weekly_digest", "missed")]
    assert review_messages(slack) == []
    assert not [r for r in outbox if r.kind == POST_DIGEST]


async def test_the_grace_comes_from_the_policy(database_url: str) -> None:
    db = Database(database_url)
    try:
        await migrate.upgrade(db.engine)
        policy = POLICY.model_copy(
            update={"schedules": POLICY.schedules.model_copy(update={"misfire_grace_minutes": 180})}
        )
        runner = JobRunner(db, lambda: policy, FrozenClock(MONDAY), "UTC", "w")
        result = await runner.run("weekly_digest", now=MONDAY + timedelta(hours=2))
    finally:
        await db.dispose()
    assert result is not None
    assert result.outcome is Outcome.LATE


# --- time zones -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("monday_utc", "previous_monday_utc"),
    [
        # 25 Oct 2026: Paris leaves summer time; 10:00 is 08:00 UTC before, 09:00 after.
        (datetime(2026, 10, 26, 9, 0, tzinfo=UTC), datetime(2026, 10, 19, 8, 0, tzinfo=UTC)),
        # 29 Mar 2026: Paris enters summer time; 10:00 is 09:00 UTC before, 08:00 after.
        (datetime(2026, 3, 30, 8, 0, tzinfo=UTC), datetime(2026, 3, 23, 9, 0, tzinfo=UTC)),
    ],
)
async def test_the_digest_runs_at_ten_local_time_across_dst(
    database_url: str, monday_utc: datetime, previous_monday_utc: datetime
) -> None:
    db = Database(database_url)
    try:
        await migrate.upgrade(db.engine)
        clock = FrozenClock(monday_utc)
        runner = JobRunner(db, lambda: POLICY, clock, "Europe/Paris", "w")
        early = await runner.run("weekly_digest", now=monday_utc - timedelta(minutes=1))
        on_time = await runner.run("weekly_digest", now=monday_utc + timedelta(seconds=10))
        [row] = [r for r in await rows(db, OutboxRow) if r.kind == POST_DIGEST]
    finally:
        await db.dispose()
    # A minute before 10:00 local, the latest time is last week's: long missed.
    assert early is not None
    assert (early.scheduled_for, early.outcome) == (previous_monday_utc, Outcome.MISSED)
    assert on_time is not None
    assert (on_time.scheduled_for, on_time.outcome) == (monday_utc, Outcome.RAN)
    # The digest covers one meeting to the next: a week and (or less) an hour.
    assert datetime.fromisoformat(row.payload["start"]) == previous_monday_utc
    assert datetime.fromisoformat(row.payload["end"]) == monday_utc
    # APScheduler's own trigger agrees.
    trigger = triggers(POLICY, "Europe/Paris")["weekly_digest"]
    fire = trigger.get_next_fire_time(None, previous_monday_utc + timedelta(hours=1))
    assert fire == monday_utc
    assert (fire.astimezone(trigger.timezone).hour, fire.astimezone(trigger.timezone).minute) == (
        10,
        0,
    )


def test_an_invalid_cron_expression_is_a_configuration_error() -> None:
    broken = POLICY.model_copy(
        update={
            "schedules": POLICY.schedules.model_copy(
                update={"postmortem_reminder": Schedule(cron="0 10 * * FUNDAY")}
            )
        }
    )
    with pytest.raises(ConfigError, match=r"schedules\.postmortem_reminder\.cron"):
        triggers(broken, "UTC")


async def test_the_scheduler_keeps_one_job_per_schedule(database_url: str) -> None:
    db = Database(database_url)
    try:
        await migrate.upgrade(db.engine)
        clock = FrozenClock(datetime(2026, 3, 4, 12, 0, tzinfo=UTC))  # a Wednesday
        scheduler = Scheduler(JobRunner(db, lambda: POLICY, clock, "UTC", "w"), clock, "UTC")
        await scheduler.start()
        try:
            next_runs = scheduler.next_runs()
        finally:
            scheduler.stop()
    finally:
        await db.dispose()
    assert set(next_runs) == {"weekly_digest", "postmortem_reminder", "followup_reminder", "purge"}
    assert all(when is not None for when in next_runs.values())


async def test_digest_service_periods_follow_the_meeting(database_url: str) -> None:
    db = Database(database_url)
    try:
        service = DigestService(db, lambda: POLICY, FrozenClock(MONDAY), timezone="Europe/Paris")
        preview = service.current_period(MONDAY + timedelta(days=2))
        dates = service.dates_period(date(2026, 3, 2), date(2026, 3, 8))
    finally:
        await db.dispose()
    assert preview.start == MONDAY - timedelta(hours=1)  # 10:00 in Paris (UTC+1)
    assert dates.start == datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    assert dates.end == datetime(2026, 3, 8, 23, 0, tzinfo=UTC)


# --- the command line -----------------------------------------------------------------------


def test_firewatch_digest_prints_and_posts(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli.main import main

    async def prepare() -> None:
        db = Database(database_url)
        try:
            await migrate.upgrade(db.engine)
        finally:
            await db.dispose()
        db = Database(database_url)
        try:
            await build_week(db)
        finally:
            await db.dispose()

    asyncio.run(prepare())
    for key in list(os.environ):
        if key.startswith(("FIREWATCH_", "SLACK_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("FIREWATCH_DATABASE_URL", database_url)
    assert main(["digest", "--from", "2026-03-02", "--to", "2026-03-08"]) == 0
    out = capsys.readouterr().out
    assert "Weekly incident review: 2026-03-02 00:00 – 2026-03-09 00:00 (UTC)" in out
    assert "Post-mortems to review: 1" in out
    assert "INC-3 Incident 3: U0DAVE, not requested" in out
    assert "Overdue action items: 1" in out
    assert main(["digest", "--from", "2026-03-09", "--to", "2026-03-02"]) == 2
    assert main(["digest", "--post"]) == 0
    assert "digest queued for #incident-review" in capsys.readouterr().out

    async def queued() -> list[OutboxRow]:
        db = Database(database_url)
        try:
            return [r for r in await rows(db, OutboxRow) if r.kind == POST_DIGEST]
        finally:
            await db.dispose()

    [row] = asyncio.run(queued())
    assert row.payload["channel"] == "#incident-review"

    # Asked again (by hand, or by a command repeated after the database went away)
    # while the first is still waiting: the same row, posted once.
    assert main(["digest", "--post"]) == 0
    assert f"digest was already queued for #incident-review (outbox {row.id})" in (
        capsys.readouterr().out
    )
    assert [r.id for r in asyncio.run(queued())] == [row.id]

    async def delivered() -> None:
        db = Database(database_url)
        try:
            async with db.session() as session:
                await session.execute(
                    update(OutboxRow).where(OutboxRow.id == row.id).values(status="done")
                )
        finally:
            await db.dispose()

    asyncio.run(delivered())  # once posted, posting it again is a new message
    assert main(["digest", "--post"]) == 0
    assert "digest queued for #incident-review" in capsys.readouterr().out
    assert len(asyncio.run(queued())) == 2
