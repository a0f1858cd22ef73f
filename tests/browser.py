"""The screens in a real browser: Debian's Chromium, headless, driven by Playwright.

Loaded as a plugin by the screens' tests (`pytest_plugins = ["browser"]`). `screens` opens
pages on a TV or a phone, fails the test if a page raises a script error, runs the vendored
axe-core on a page and keeps a picture of each screen in tests/screenshots/ for people to look
at. `served_hall` is the real controller in this process (the demo hall, its clock stopped at T0);
`restarting_hall` is the controller as a child process that keeps its data and its port when it
is killed and started again, as a hall display's address does.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright
from server_process import ROOT, ServerProcess
from test_api import T0, Api, Clock
from yarl import URL

from hall_controller.settings import load_settings

from accounts import (
    AUTH,
    DEMO_CLERK,
    DEMO_KIOSK_TOKENS,
    DEMO_MANAGER,
    DEMO_TECHNICIAN,
)

CHROMIUM = "/usr/bin/chromium"
# No sandbox (CI runs as root), no GPU (none there), and nothing that phones home.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)
TV: ViewportSize = {"width": 1920, "height": 1080}
PHONE: ViewportSize = {"width": 390, "height": 844}
SCREENSHOTS = ROOT / "tests" / "screenshots"
AXE_JS = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
# The impacts that fail the audit; "moderate" and "minor" findings are reported by axe only.
BLOCKING_IMPACTS = ("serious", "critical")


@dataclass
class Screens:
    """One headless browser; every page it opens is watched for script errors."""

    browser: Browser
    script_errors: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)  # every URL any page asked for

    async def open(
        self,
        url: str,
        *,
        phone: bool = False,
        role: str | None = None,
        window: str | None = None,
        kiosk: str | None = None,
    ) -> Page:
        """A new page showing `url` on a 1920x1080 TV, or on a phone held upright.

        With `role`, its browser signs in as that demo hall person first (see `sign_in`).
        """
        # The browser runs in UTC: screens must show the hall's own time, not the device's.
        context = await self.browser.new_context(
            viewport=PHONE if phone else TV,
            is_mobile=phone,
            has_touch=phone,
            locale="zh-CN",
            timezone_id="UTC",
        )
        page = await context.new_page()
        page.on("pageerror", lambda error: self.script_errors.append(f"{url}: {error}"))
        page.on("request", lambda request: self.requested.append(request.url))
        if role is not None:
            origin = URL(url).origin()
            await sign_in(page, str(origin), role, window=window, kiosk=kiosk)
        await page.goto(url)
        return page

    async def sign_in(
        self,
        page: Page,
        base_url: str,
        role: str,
        *,
        window: str | None = None,
        kiosk: str | None = None,
    ) -> None:
        """Sign the page's browser in as a demo hall person (see the module's `sign_in`)."""
        await sign_in(page, base_url, role, window=window, kiosk=kiosk)

    async def screenshot(self, page: Page, name: str) -> Path:
        """Keep a picture of what the page shows now, as tests/screenshots/<name>.png."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await page.screenshot(path=path, full_page=True)
        return path

    async def accessibility_problems(self, page: Page) -> list[str]:
        """axe-core's serious and critical findings on the page as it is now, one line each."""
        # Evaluated through the debugging protocol, not as a <script>: no CSP can block it.
        await page.evaluate(_axe_source() + "\n;undefined")
        violations: list[dict[str, Any]] = await page.evaluate(
            """async () => {
                const results = await axe.run(document, { resultTypes: ["violations"] });
                return results.violations.map((v) => ({
                    id: v.id,
                    impact: v.impact,
                    help: v.help,
                    nodes: v.nodes.map((n) => n.target.join(" ")),
                }));
            }"""
        )
        return [
            f"{v['impact']}: {v['id']} ({v['help']}) at {', '.join(v['nodes'][:5])}"
            for v in violations
            if v["impact"] in BLOCKING_IMPACTS
        ]


async def sign_in(
    page: Page,
    base_url: str,
    role: str,
    *,
    window: str | None = None,
    kiosk: str | None = None,
) -> None:
    """Sign the page's browser in as a demo hall person (staff needs `window`, kiosk `kiosk`).

    It signs in through the API with the browser's own cookie store, as the sign-in page does,
    so the page's requests carry the session cookie and its CSRF token from then on.
    """
    body: dict[str, Any] = {"role": role}
    if role == "kiosk":
        assert kiosk is not None, "a kiosk signs in as one kiosk"
        body.update(kiosk=kiosk, secret=DEMO_KIOSK_TOKENS[kiosk])
    else:
        people = {"staff": DEMO_CLERK, "manager": DEMO_MANAGER, "technician": DEMO_TECHNICIAN}
        account, secret = people[role]
        body.update(account=account, secret=secret, window=window)
    reply = await page.context.request.post(f"{base_url}/api/v1/session", data=body)
    assert reply.ok, f"sign-in as {role} refused: {reply.status} {await reply.text()}"


@pytest.fixture
async def screens() -> AsyncIterator[Screens]:
    """A headless Chromium for one test; the test fails if any page threw a script error."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(CHROMIUM_ARGS)
        )
        opened = Screens(browser)
        try:
            yield opened
        finally:
            await browser.close()
    assert not opened.script_errors, "script errors on the screens:\n" + "\n".join(
        opened.script_errors
    )


@pytest.fixture
async def served_hall(demo_config_path: Path, tmp_path: Path) -> AsyncIterator[Api]:
    """The demo hall's controller serving the screens, its clock at 10:00 in Guangzhou."""
    async with aiohttp.ClientSession(headers=AUTH) as session:
        settings = load_settings(demo_config_path)
        server = Api(settings, tmp_path / "data", Clock(T0), session)
        await server.start()
        try:
            yield server
        finally:
            await server.stop()


@cache
def _axe_source() -> str:
    return AXE_JS.read_text(encoding="utf-8")


# ----------------------------------------------------------------- a controller that restarts


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RestartingHall:
    """The controller as a child process: killed and started again on the same data and port."""

    def __init__(self, config: Path, data_dir: Path) -> None:
        self.config = config
        self.data_dir = data_dir
        self.port = free_port()
        self.runs: list[ServerProcess] = []

    @property
    def url(self) -> str:
        """The controller's address, the same in every run."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start a run and wait until it listens (blocking)."""
        run = ServerProcess(self.config, self.data_dir, port=self.port, name=f"run{len(self.runs)}")
        self.runs.append(run)
        run.start()

    def kill(self) -> None:
        """SIGKILL the current run, as a power cut would (blocking)."""
        self.runs[-1].kill()

    def stop(self) -> None:
        """Make sure no run is left behind."""
        for run in self.runs:
            run.stop()


@pytest.fixture
def restarting_hall(demo_config_path: Path, tmp_path: Path) -> Iterator[RestartingHall]:
    """The demo hall as a child process that a test can kill and start again."""
    hall = RestartingHall(demo_config_path, tmp_path / "data")
    try:
        yield hall
    finally:
        hall.stop()
