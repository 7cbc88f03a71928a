"""The status page of a running Firewatch in headless Chromium (issue 24): an outage
declared and updated through Slack's forms, as a visitor sees it on the status port, then
the same page after the incident is resolved in Slack. Nothing of the incident's internal
record reaches the page. Screenshots: status-app-outage.png, status-app-resolved.png."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from bot.domain.clock import FrozenClock
from bot.emulator import input_values
from bot.slack.ids import PmIds, StatusPageIds, TimelineIds
from tests.support import QUALIFYING, REPORT, Harness, status_page_harness
from tests.web.test_status_browser import _chrome, _need_chromium, screenshot

NOW = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)
PM = "U0BOB"
POLICY = f"""
roles:
  pm: {{primary: {PM}}}
components:
  - {{key: ssoe, name: SSOe, group: Login}}
  - {{key: sis, name: SiS, group: Login}}
  - {{key: api, name: Public API}}
"""
INTERNAL_NOTE = "db-prod-7 failover by Alice; runbook https://wiki.internal/db"
PUBLIC = "Signing in with SiS fails for some users. We are rolling back a change."


@pytest.fixture(scope="module")
def chrome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    _need_chromium()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")
        driver = _chrome(tmp_path_factory.mktemp("chromium-app"), javascript=True)
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture
async def h(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    clock = FrozenClock(NOW)
    async with status_page_harness(database_url, tmp_path / "policy.yaml", POLICY, clock) as h:
        yield h


async def submit_form(h: Harness, callback: str, text: str, channel: str, answers: Any) -> None:
    before = len(h.slack.opened_views(callback))
    response = await h.sender.slash_command(text, channel_id=channel, user_id=PM)
    assert response.status == 200, response.text
    views = await h.slack.wait_for(lambda: h.slack.opened_views(callback)[before:])
    submitted = await h.sender.view_submission(
        views[-1], input_values(views[-1], answers), user_id=PM
    )
    assert submitted.text in ("", "{}"), submitted.text
    await h.settled()


async def visit(chrome: webdriver.Chrome, url: str) -> str:
    """The page as Chromium shows it (Selenium blocks: it runs beside the app's loop)."""
    await asyncio.to_thread(chrome.get, url)
    text: str = await asyncio.to_thread(lambda: chrome.find_element(By.TAG_NAME, "body").text)
    return text


async def test_a_visitor_sees_the_outage_declared_in_slack_and_then_its_end(
    h: Harness, chrome: webdriver.Chrome
) -> None:
    view = await h.open_declare_modal()
    answers = {
        **REPORT,
        **QUALIFYING,
        StatusPageIds.COMPONENTS: ["sis"],
        StatusPageIds.COMPONENT_STATE: "major_outage",
    }
    await h.sender.view_submission(view, input_values(view, answers))
    await h.settled()
    [incident] = await h.incidents()
    assert incident.channel_id is not None
    await h.sender.slash_command(
        f"note {INTERNAL_NOTE}", channel_id=incident.channel_id, user_id=PM
    )
    await submit_form(
        h,
        TimelineIds.STATUS_MODAL,
        "status",
        incident.channel_id,
        {
            TimelineIds.STATUS: "identified",
            TimelineIds.UPDATE: "internal: reverting deploy 4411 of the LB",
            StatusPageIds.PUBLIC_UPDATE: PUBLIC,
            StatusPageIds.COMPONENTS: ["sis"],
            StatusPageIds.COMPONENT_STATE: "major_outage",
        },
    )
    url = f"http://127.0.0.1:{h.app.status_port}/status"

    during = await visit(chrome, url)
    assert "Major outage" in during
    sis = await asyncio.to_thread(lambda: chrome.find_element(By.ID, "component-sis").text)
    ssoe = await asyncio.to_thread(lambda: chrome.find_element(By.ID, "component-ssoe").text)
    assert "Major outage" in sis
    assert "Operational" in ssoe  # seed 002: SSOe users see no outage
    today = await asyncio.to_thread(
        lambda: chrome.find_elements(By.CSS_SELECTOR, "#component-sis .strip li")[-1]
    )
    assert today.get_attribute("title") == "2026-12-06: major outage"  # begun this instant
    assert PUBLIC in during
    assert f"INC-{incident.id}" in during
    for internal in (incident.title, INTERNAL_NOTE, "deploy 4411", PM, incident.channel_name):
        assert str(internal) not in during
    await asyncio.to_thread(screenshot, chrome, "status-app-outage")

    await submit_form(
        h,
        PmIds.RESOLVE_MODAL,
        "resolve",
        incident.channel_id,
        {PmIds.SUMMARY: "LB config reverted", StatusPageIds.PUBLIC_UPDATE: "SiS works again."},
    )
    after = await visit(chrome, url)
    assert "All systems operational" in after
    sis = await asyncio.to_thread(lambda: chrome.find_element(By.ID, "component-sis").text)
    assert "Operational" in sis
    assert "SiS works again." in after  # under past incidents
    assert "LB config reverted" not in after
    await asyncio.to_thread(screenshot, chrome, "status-app-resolved")
