"""The status page in a real browser (issue 24): Debian's headless Chromium driven by
Selenium through Debian's chromedriver (no download: explicit paths, SE_OFFLINE).

What a visitor sees during an outage and after resolution (screenshots are kept in
$FIREWATCH_TEST_ARTEFACTS, else tests/artefacts/), the same with JavaScript off, a phone's
width without sideways scrolling, and axe-core (bundled by the axe-core-python package)
finding no serious or critical accessibility violation.

Without Chromium these tests are skipped, except in CI (CI=true), where they fail:
.ci/run installs `chromium` and `chromium-driver`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from bot.domain.status_history import PublicPage
from bot.web.status_server import build_status_app, status_routes
from tests.web.pages import outage_page, resolved_page

CHROMIUM = os.environ.get("FIREWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("FIREWATCH_CHROMEDRIVER", "/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parents[2]
ARTEFACTS = Path(os.environ.get("FIREWATCH_TEST_ARTEFACTS") or REPO / "tests" / "artefacts")


def _need_chromium() -> None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if not missing:
        return
    reason = f"{' and '.join(missing)} missing (apt-get install chromium chromium-driver)"
    if os.environ.get("CI"):
        pytest.fail(f"CI needs a browser for the status page tests: {reason}")
    pytest.skip(reason)


class StatusServer:
    """The status app on 127.0.0.1 in a thread of its own, serving `page`."""

    def __init__(self) -> None:
        self.page: PublicPage = outage_page()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _provide(self) -> PublicPage:
        return self.page

    async def _start(self) -> str:
        app = build_status_app(status_routes(self._provide, cache_seconds=0))
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> StatusServer:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def _chrome(profile: Path, *, javascript: bool) -> webdriver.Chrome:
    options = Options()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--window-size=1280,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    if not javascript:
        options.add_argument("--blink-settings=scriptEnabled=false")
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(60)
    return driver


@pytest.fixture(scope="module")
def server() -> Iterator[StatusServer]:
    with StatusServer() as running:
        yield running


@pytest.fixture
def status(server: StatusServer) -> Iterator[StatusServer]:
    server.page = outage_page()
    yield server
    server.page = outage_page()


@pytest.fixture(scope="module")
def browsers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, webdriver.Chrome]]:
    _need_chromium()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not download anything
        drivers: dict[str, webdriver.Chrome] = {}
        try:
            for name, javascript in (("on", True), ("off", False)):
                profile = tmp_path_factory.mktemp(f"chromium-js-{name}")
                drivers[name] = _chrome(profile, javascript=javascript)
            yield drivers
        finally:
            for driver in drivers.values():
                driver.quit()


@pytest.fixture
def browser(browsers: dict[str, webdriver.Chrome]) -> Iterator[webdriver.Chrome]:
    driver = browsers["on"]
    yield driver
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    height = driver.execute_script("return document.scrollingElement.scrollHeight")
    width = driver.execute_script("return window.innerWidth")
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )
    assert driver.save_screenshot(str(path))
    return path


def visible_component(driver: webdriver.Chrome, key: str) -> str:
    element = driver.find_element(By.ID, f"component-{key}")
    assert element.is_displayed()
    text: str = element.text
    return text


def test_during_an_outage_a_visitor_sees_which_component_is_down(
    browser: webdriver.Chrome, status: StatusServer
) -> None:
    browser.get(f"{status.url}/status")
    assert browser.title == "Example status: Major outage"
    assert browser.find_element(By.CLASS_NAME, "overall").text == "Major outage"
    assert "Major outage" in visible_component(browser, "ssoe")
    assert "Operational" in visible_component(browser, "sis")
    strip = browser.find_element(By.CSS_SELECTOR, "#component-ssoe .strip")
    assert strip.is_displayed()
    assert strip.size["width"] > 200
    assert strip.size["height"] > 10
    today = strip.find_elements(By.TAG_NAME, "li")[-1]
    assert today.get_attribute("title") == "2026-12-06: major outage, 40 min down"
    incident = browser.find_element(By.ID, "current-incidents").find_element(By.XPATH, "..")
    assert "Logins with SSOe fail; we are on it." in incident.text
    assert screenshot(browser, "status-outage").stat().st_size > 1000


def test_after_resolution_everything_is_operational_and_the_incident_is_past(
    browser: webdriver.Chrome, status: StatusServer
) -> None:
    status.page = resolved_page()
    browser.get(f"{status.url}/status")
    assert browser.find_element(By.CLASS_NAME, "overall").text == "All systems operational"
    assert "Operational" in visible_component(browser, "ssoe")
    assert browser.find_elements(By.ID, "current-incidents") == []
    past = browser.find_element(By.ID, "past-incidents").find_element(By.XPATH, "..")
    assert "SSOe logins work again." in past.text
    assert "Resolved 2026-12-06 10:30 UTC" in past.text
    assert screenshot(browser, "status-resolved").stat().st_size > 1000


def test_with_javascript_off_the_page_shows_the_same(
    browsers: dict[str, webdriver.Chrome], status: StatusServer
) -> None:
    off = browsers["off"]
    off.get("data:text/html,<title>off</title><script>document.title='on'</script>")
    assert off.title == "off"  # JavaScript really is off in this browser
    texts = []
    for driver in (browsers["on"], off):
        driver.get(f"{status.url}/status")
        texts.append(driver.find_element(By.TAG_NAME, "body").text)
    assert "Major outage" in texts[1]
    assert texts[0] == texts[1]


def test_on_a_phone_nothing_scrolls_sideways(
    browser: webdriver.Chrome, status: StatusServer
) -> None:
    status.page = outage_page(text="A very long public update: " + "x" * 400)
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 375, "height": 812, "deviceScaleFactor": 2, "mobile": True},
    )
    browser.get(f"{status.url}/status")
    scroll_width, inner_width = browser.execute_script(
        "return [document.scrollingElement.scrollWidth, window.innerWidth]"
    )
    assert inner_width == 375
    assert scroll_width <= inner_width
    assert browser.find_element(By.CSS_SELECTOR, "#component-ssoe .strip").is_displayed()
    screenshot(browser, "status-phone")


def axe_violations(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    script = (resources.files("axe_core_python") / "axe.min.js").read_text(encoding="utf-8")
    driver.execute_script(script)
    found: list[dict[str, Any]] = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(r.violations), e => done([{id: 'axe-error', impact: 'critical',"
        " help: String(e), nodes: []}]));"
    )
    return found


@pytest.mark.parametrize("page", [outage_page, resolved_page])
def test_axe_finds_no_serious_or_critical_violation(
    browser: webdriver.Chrome, status: StatusServer, page: Any
) -> None:
    status.page = page()
    browser.get(f"{status.url}/status")
    violations = axe_violations(browser)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(node.get("target")) for node in v["nodes"][:3])
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == []
