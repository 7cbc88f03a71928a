"""Every refusal is recorded: on the incident's timeline when there is one, and always in
the refusals, which `firewatch refusals` lists, the retention purge removes with the
timeline's entries, and forgetting a person rewrites like any other table."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.permissions import Action, Actor
from bot.domain.retention import pseudonym
from bot.services.authority import Refused
from bot.services.lifecycle import LifecycleService
from tests.services.test_lifecycle import KEY, cli, clock, declare, h, policy_file, say
from tests.support import Harness

__all__ = ["h", "policy_file"]  # the fixtures, shared with the lifecycle tests

GUEST = "U0GUEST"


async def test_refusals_are_listed_purged_and_forgotten(h: Harness) -> None:
    h.slack.add_user(GUEST, "guest", "guest@example.com", is_restricted=True)
    inc = await declare(h)
    await say(h, inc.channel_id or "", "status monitoring", user=GUEST)  # on INC-1
    clock(h).advance(timedelta(hours=1))
    with pytest.raises(Refused, match="^Only"):  # on no incident
        await h.app.authority.require(Actor(GUEST), Action.DECLARE)
    assert await h.refusals() == [
        (GUEST, "guest", "change_status", inc.id),
        (GUEST, "guest", "declare", None),
    ]

    listing = await cli("refusals", database_url=h.database_url)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["WHEN", "(UTC)", "WHO", "KIND", "ACTION", "INCIDENT"]
    assert lines[1].split() == ["2020-03-02", "11:00:00", GUEST, "guest", "declare", "-"]
    assert lines[2].split()[2:] == [GUEST, "guest", "change_status", "INC-1"]
    later = await cli("refusals", "--since", "2020-03-03", database_url=h.database_url)
    assert later.stdout.strip() == "no refusals"
    bad = await cli("refusals", "--since", "yesterday", database_url=h.database_url)
    assert bad.returncode == 2
    assert "'yesterday' is not a date (YYYY-MM-DD)" in bad.stderr

    forgot = await cli("forget-user", GUEST, "--yes", database_url=h.database_url)
    assert forgot.returncode == 0, forgot.stderr
    alias = pseudonym(GUEST, KEY.encode())
    assert [who for who, *_ in await h.refusals()] == [alias, alias]

    # The audit trail's retention (timeline_days: 30) applies to them too.
    service = LifecycleService(h.app.db, h.app.policy, h.app.clock, audit_key=KEY.encode())
    clock(h).advance(timedelta(days=29))
    assert "refusals" not in (await service.purge(dry_run=True)).counts
    clock(h).advance(timedelta(days=2))
    assert (await service.purge(dry_run=True)).counts["refusals"] == 2
    assert len(await h.refusals()) == 2  # a dry run deletes nothing
    assert (await service.purge()).counts["refusals"] == 2
    assert await h.refusals() == []
