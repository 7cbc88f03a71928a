"""Scheduled jobs as people read their cron (issue 21 item 5): `0 10 * * 1` is Monday,
and a local time repeated when the clocks go back runs once, whichever replica or
restart asks (runs are claimed by the local time's one instant)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.domain.clock import FrozenClock
from bot.domain.policy import Schedule
from bot.policy.loader import load_policy
from bot.runtime.scheduler import triggers
from bot.services.jobs import FOLLOWUP_REMINDER_JOB, JobRunner, Outcome
from storage.engine import Database

POLICY = load_policy(None).policy


def with_schedule(job: str, cron: str) -> object:
    schedules = POLICY.schedules.model_copy(update={job: Schedule(cron=cron)})
    return POLICY.model_copy(update={"schedules": schedules})


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc, arg-type]


async def test_a_local_time_repeated_when_the_clocks_go_back_runs_once(db: Database) -> None:
    """`30 2 * * *` in Paris on 2026-10-25: 02:30 happens at 00:30Z and again at 01:30Z."""
    policy = with_schedule("followup_reminder", "30 2 * * *")
    clock = FrozenClock(utc(2026, 10, 25, 0, 30))
    runners = [
        JobRunner(db, lambda: policy, clock, "Europe/Paris", f"replica-{i}")  # type: ignore[arg-type, return-value]
        for i in range(2)
    ]
    first = await runners[0].run(FOLLOWUP_REMINDER_JOB, now=clock.now())
    assert first is not None
    assert (first.scheduled_for, first.outcome) == (utc(2026, 10, 25, 0, 30), Outcome.RAN)
    # An hour later the wall clock shows 02:30 again: nothing runs, on either replica.
    clock.set(utc(2026, 10, 25, 1, 30))
    for runner in runners:
        assert await runner.run(FOLLOWUP_REMINDER_JOB, now=clock.now()) is None
    # The scheduler's trigger agrees: after 00:30Z the next run is the next day's 02:30.
    trigger = triggers(policy, "Europe/Paris")[FOLLOWUP_REMINDER_JOB]  # type: ignore[arg-type]
    fired = utc(2026, 10, 25, 0, 30)
    assert trigger.get_next_fire_time(fired, fired) == utc(2026, 10, 26, 1, 30)


async def test_a_skipped_local_time_runs_when_the_clocks_jump(db: Database) -> None:
    """02:30 does not happen in Paris on 2026-03-29: the run is at 03:00 local (01:00Z)."""
    policy = with_schedule("followup_reminder", "30 2 * * *")
    trigger = triggers(policy, "Europe/Paris")[FOLLOWUP_REMINDER_JOB]  # type: ignore[arg-type]
    fire = trigger.get_next_fire_time(None, utc(2026, 3, 28, 12))
    assert fire == utc(2026, 3, 29, 1, 0)
    clock = FrozenClock(fire)
    runner = JobRunner(db, lambda: policy, clock, "Europe/Paris", "w")  # type: ignore[arg-type, return-value]
    result = await runner.run(FOLLOWUP_REMINDER_JOB, now=clock.now())
    assert result is not None
    assert (result.scheduled_for, result.outcome) == (fire, Outcome.RAN)


def test_day_of_week_one_is_monday_for_the_scheduler() -> None:
    policy = with_schedule("followup_reminder", "0 10 * * 1")
    trigger = triggers(policy, "Europe/Paris")[FOLLOWUP_REMINDER_JOB]  # type: ignore[arg-type]
    fire = trigger.get_next_fire_time(None, utc(2026, 12, 6, 12))  # a Sunday
    assert fire is not None
    assert fire.strftime("%a %H:%M") == "Mon 10:00"
    assert fire - timedelta(days=1) > utc(2026, 12, 6)


def test_check_config_and_policy_show_print_the_next_three_runs(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text('schedules:\n  purge: {cron: "30 2 * * 0"}\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "FIREWATCH_"))}
    env |= {"FIREWATCH_POLICY_FILE": str(policy), "FIREWATCH_TIMEZONE": "Europe/Paris"}
    for command in (["check-config"], ["policy", "show"]):
        result = subprocess.run(
            [sys.executable, "-m", "bot", *command],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        [line] = [x for x in result.stdout.splitlines() if "purge (30 2 * * 0)" in x]
        runs = line.split(": ", 1)[1].split(", ")
        assert len(runs) == 3
        assert all(run.startswith("Sun ") and " 02:30 CE" in run for run in runs), line
        assert "runs" in result.stdout
        assert "in Europe/Paris" in result.stdout
