"""What reaches /slack/events: signatures, malformed bodies, retries, health endpoints."""

from __future__ import annotations

import time
import urllib.parse

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.emulator import sign
from tests.support import Harness


def _command_body() -> str:
    return urllib.parse.urlencode(
        {
            "command": "/incident",
            "text": "help",
            "user_id": "U0ALICE",
            "channel_id": "C0INCIDENTS",
            "team_id": "T0FIREWTCH",
            "trigger_id": "1.2.abc",
            "response_url": "http://127.0.0.1:9/hook",
        }
    )


async def test_forged_missing_and_stale_signatures_get_401_and_change_nothing(
    harness: Harness,
) -> None:
    body = urllib.parse.urlencode(
        {
            "payload": '{"type":"view_submission",'
            '"view":{"id":"V1","callback_id":"firewatch_declare"}}'
        }
    )
    now = int(time.time())
    forged = await harness.sender.post_raw(
        body, content_type="application/x-www-form-urlencoded", signature="v0=" + "0" * 64
    )
    missing = await harness.sender.post_raw(
        body, content_type="application/x-www-form-urlencoded", sign=False
    )
    stale = await harness.sender.post_raw(
        body, content_type="application/x-www-form-urlencoded", timestamp=now - 60 * 10
    )
    wrong_secret = await harness.sender.post_raw(
        body,
        content_type="application/x-www-form-urlencoded",
        signature=sign("not-the-secret", str(now), body),
        timestamp=now,
    )
    assert [r.status for r in (forged, missing, stale, wrong_secret)] == [401, 401, 401, 401]
    assert await harness.incidents() == []
    assert await harness.outbox() == []
    assert harness.slack.calls_to("views.open") == []


async def test_a_correctly_signed_command_is_answered(harness: Harness) -> None:
    response = await harness.sender.post_raw(
        _command_body(), content_type="application/x-www-form-urlencoded"
    )
    assert response.status == 200
    assert "Firewatch" in response.json()["text"]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    body=st.one_of(
        st.text(max_size=300),
        st.builds(lambda s: "payload=" + urllib.parse.quote(s), st.text(max_size=200)),
        st.builds(
            lambda s: "payload=" + urllib.parse.quote('{"type":"' + s + '"}'), st.text(max_size=40)
        ),
        st.sampled_from(
            [
                "payload=%7B",
                "payload=null",
                'payload={"type":"view_submission"}',
                'payload={"type":"block_actions","actions":null}',
                'payload={"type":"view_submission","view":{"callback_id":"firewatch_declare"}}',
                '{"type":"event_callback","event":null,"event_id":5}',
                '{"type":"event_callback"}',
                "command=%2Fincident",
                "command=%2Fincident&text=declare&trigger_id=",
            ]
        ),
    ),
    content_type=st.sampled_from(
        ["application/x-www-form-urlencoded", "application/json", "text/plain"]
    ),
)
async def test_signed_malformed_bodies_get_a_4xx_or_200_never_a_500(
    harness: Harness, body: str, content_type: str
) -> None:
    response = await harness.sender.post_raw(body, content_type=content_type)
    assert response.status < 500, (response.status, response.text)
    assert "Traceback" not in response.text


async def test_an_event_that_produces_nothing_leaves_no_mark(harness: Harness) -> None:
    """Only an event that stores something records its id, with what it stores
    (tests/scenarios/test_capture_requests.py); another emoji is answered and forgotten."""
    event = {
        "type": "reaction_added",
        "user": "U0ALICE",
        "reaction": "thumbsup",
        "item": {"type": "message", "channel": "C0INCIDENTS", "ts": "1700000000.000100"},
        "event_ts": "1700000001.000200",
    }
    first = await harness.sender.event(event, event_id="Ev0001")
    retry = await harness.sender.event(event, event_id="Ev0001", retry_num=1)
    assert (first.status, retry.status) == (200, 200)
    async with harness.app.db.session(write=False) as session:
        from sqlalchemy import func, select

        from storage.models import SlackEventRow

        count = (
            await session.execute(select(func.count()).select_from(SlackEventRow))
        ).scalar_one()
    assert count == 0


async def test_url_verification_echoes_the_challenge(harness: Harness) -> None:
    response = await harness.sender.url_verification("abc123")
    assert response.status == 200
    assert response.json()["challenge"] == "abc123"


async def test_health_endpoints(harness: Harness) -> None:
    base = f"http://127.0.0.1:{harness.app.port}"
    await harness.app.check_slack_auth()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/health/live") as live:
            assert live.status == 200
        async with http.get(f"{base}/health/ready") as ready:
            assert ready.status == 200
            assert (await ready.json())["status"] == "ready"
        async with http.get(f"{base}/health") as health:
            assert health.status == 200
            payload = await health.json()
    assert payload["status"] == "ok"
    components = payload["components"]
    assert components["database"]["status"] == "ok"
    assert components["database"]["latency_ms"] >= 0
    assert components["outbox"] == {
        "status": "ok",
        "pending": 0,
        "dead": 0,
        "oldest_pending_age_seconds": 0.0,
    }
    assert components["declaration_intake"] == {
        "status": "ok",
        "pending": 0,
        "oldest_pending_age_seconds": 0.0,
        "set_aside": 0,
    }
    assert components["captures"] == {
        "status": "ok",
        "pending": 0,
        "oldest_pending_age_seconds": 0.0,
    }
    assert components["note_intake"] == {
        "status": "ok",
        "pending": 0,
        "oldest_pending_age_seconds": 0.0,
    }
    assert components["slack_auth"]["status"] == "ok"
    assert components["slack_auth"]["team"] == "T0FIREWTCH"
    assert payload["uptime_seconds"] >= 0


async def test_health_reports_failing_slack_auth_and_dead_messages(harness: Harness) -> None:
    harness.slack.fail("auth.test", error="invalid_auth", times=100)
    await harness.app.check_slack_auth()
    harness.slack.fail("chat.postMessage", error="channel_not_found")
    harness.slack.fail("conversations.list", error="channel_not_found")
    await harness.declare()
    await harness.settled()
    status, payload = await harness.app.health()
    assert status == 200
    assert payload["status"] == "degraded"
    assert payload["components"]["slack_auth"] == {
        **payload["components"]["slack_auth"],
        "status": "failing",
        "error": "invalid_auth",
    }
    assert payload["components"]["outbox"]["dead"] >= 1
