"""The efficiency report from the controller: the manager's route in three formats, refused to
everyone else, and the manager tablet's Reports tab in a real browser."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest
from playwright.async_api import expect
from test_access import signed_in
from test_api import DAY, T0, Api, Clock, check_against_openapi, running_api
from test_reports_cli import CASE, SAID, poor_ratings_followed_up

from hall_controller.reports import CjkFont
from hall_controller.reports import pdf as reports_pdf
from hall_controller.settings import load_settings
from hall_controller.web.openapi import openapi_document

if TYPE_CHECKING:
    from browser import Screens

pytest_plugins = ["browser"]
pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

REPORT = "/api/v1/reports/efficiency"


@pytest.fixture
async def api(demo_config_path: Path, tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(load_settings(demo_config_path), tmp_path / "data", Clock(T0)) as api:
        yield api


async def a_short_morning(api: Api) -> None:
    """Window 1 serves two social tickets (5 and 3 minutes waited), rated 5 and 2; one
    police ticket still waits."""
    await api.post("/api/v1/windows/1/open")
    first = await api.issue("social")
    await api.issue("social", priority="elderly")
    await api.issue("police")
    api.clock.advance(180)
    for score in (5, 2):
        called = await api.post("/api/v1/windows/1/call")
        await api.post("/api/v1/windows/1/start")
        api.clock.advance(239)  # and a second for the finish itself
        await api.post("/api/v1/windows/1/finish")
        await api.post(f"/api/v1/tickets/{called['ticket']['id']}/rating", {"score": score})
    assert first["number"] == "A001"


async def fetch(api: Api, query: str) -> tuple[int, dict[str, str], bytes]:
    """A GET of the report with the tests' token (a manager among its roles)."""
    async with api.session.get(f"{api.url}{REPORT}?{query}") as response:
        return response.status, dict(response.headers), await response.read()


def documented_types() -> set[str]:
    ok = openapi_document()["paths"][REPORT]["get"]["responses"]["200"]
    return set(ok["content"])


async def test_the_manager_gets_the_report_as_html_pdf_and_csv(api: Api) -> None:
    await a_short_morning(api)

    status, headers, body = await fetch(api, f"from={DAY}&to={DAY}&format=html")
    assert status == 200
    assert headers["Content-Type"].split(";")[0] in documented_types()
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert (
        headers["Content-Disposition"]
        == f'inline; filename="efficiency-report_gz-tianhe-demo_{DAY}.html"'
    )
    html = body.decode("utf-8")
    assert "广州市天河区政务服务中心" in html
    assert "社会民生" in html
    assert html.count("<svg") >= 6

    status, headers, body = await fetch(api, f"from={DAY}&format=pdf")
    assert status == 200
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Disposition"].startswith("attachment; filename=")
    assert headers["Content-Disposition"].endswith(f'_{DAY}.pdf"')
    assert body.startswith(b"%PDF-")
    assert re.search(rb"/BaseFont /[A-Z]{6}\+NotoSansCJKSC", body)

    status, headers, body = await fetch(api, f"from={DAY}&to={DAY}&format=csv")
    assert status == 200
    assert headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    figures = {(s, subject, m): v for s, subject, m, v in rows[1:]}
    assert figures[("themes", "theme:social", "issued")] == "2"
    assert figures[("themes", "theme:social", "served")] == "2"
    assert figures[("themes", "all", "unfinished")] == "1"
    assert figures[("service", "all", "median_service_s")] == "240"
    assert figures[("ratings", "hall", "mean_rating")] == "3.50"
    # The tests' token calls through the API: nobody was signed in at window 1.
    assert figures[("staff", "clerk:(none)", "calls")] == "2"


async def test_a_week_covers_seven_days_and_names_the_week(api: Api) -> None:
    await a_short_morning(api)
    status, headers, body = await fetch(api, "from=2026-11-23&to=2026-11-29&format=csv")
    assert status == 200
    assert headers["Content-Disposition"].endswith('_2026-W48.csv"')
    days = [r for r in csv.reader(io.StringIO(body.decode("utf-8-sig"))) if r[2] == "issued"]
    per_day = {subject: value for section, subject, _, value in days if section == "days"}
    assert per_day == {f"day:2026-11-{d}": ("3" if d == 28 else "0") for d in range(23, 30)}


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("to=2026-11-28", "from", "from is required"),
        ("from=2026-11-31", "from", "from must be a date YYYY-MM-DD"),
        ("from=2026-11-29&to=2026-11-28", "from", "is after to"),
        ("from=2025-01-01&to=2026-11-28", "to", "at most 366 days"),
        ("from=2026-11-28&format=xlsx", "format", "format must be one of html, pdf, csv"),
        ("fron=2026-11-28", "fron", 'did you mean "from"?'),
    ],
)
async def test_bad_periods_and_formats_are_refused_clearly(
    api: Api, query: str, field: str, words: str
) -> None:
    error = await api.error("GET", f"{REPORT}?{query}", 422)
    assert error["details"] == {"field": field}
    assert words in error["message"]


async def test_a_box_without_a_chinese_font_says_which_package_the_pdf_needs(
    api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    nowhere = CjkFont(tmp_path / "NotoSansCJK-Regular.ttc", 2, None, "fonts-noto-cjk")
    monkeypatch.setattr(reports_pdf, "CJK_FONTS", (nowhere,))
    path = f"{REPORT}?from={DAY}&format=pdf"
    async with api.session.get(api.url + path) as response:
        assert response.status == 503
        body = await response.json()
    check_against_openapi("GET", path, 503, body, True)
    error = body["error"]
    assert error["code"] == "report_unavailable"
    assert "install the Debian package fonts-noto-cjk" in error["message"]
    # The other formats need no font.
    status, _, _ = await fetch(api, f"from={DAY}&format=html")
    assert status == 200


async def test_only_a_manager_may_have_the_report(api: Api) -> None:
    path = f"{REPORT}?from={DAY}&format=csv"
    async with aiohttp.ClientSession() as anonymous, anonymous.get(api.url + path) as response:
        assert response.status == 401
    for role, where in (("staff", {"window": "1"}), ("kiosk", {"kiosk": "k1"}), ("technician", {})):
        browser = await signed_in(api, role, **where)
        status, reply, _ = await browser.send("GET", path)
        assert status == 403, (role, reply)
    manager = await signed_in(api, "manager")
    status, _, response = await manager.send("GET", path, accept="text/csv")
    assert status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"


# ----------------------------------------------------------------- the manager tablet


async def test_the_tablet_opens_the_report_and_downloads_pdf_and_csv(
    served_hall: Api, screens: Screens
) -> None:
    await a_short_morning(served_hall)
    page = await screens.open(f"{served_hall.url}/manager", role="manager")
    await expect(page.locator("body")).to_have_attribute("data-link", "live")
    await page.locator("#tab-reports").click()
    panel = page.locator("#panel-reports")
    await expect(panel).to_be_visible()
    await expect(panel.locator("h2")).to_have_text("效能评价报告 Efficiency evaluation report")
    # The hall's business day is chosen at first; a week spans Monday to Sunday.
    await expect(page.locator("#report-date")).to_have_value(DAY)
    await expect(page.locator("#report-range")).to_have_text(f"{DAY} 至 {DAY} {DAY} to {DAY}")
    await panel.locator("label.preset", has_text="周").click()
    await expect(page.locator("#report-range")).to_contain_text("2026-11-23 至 2026-11-29")
    await panel.locator("label.preset", has_text="日").click()
    await screens.screenshot(page, "manager-reports")
    assert await screens.accessibility_problems(page) == []

    async with page.context.expect_page() as opened:
        await page.locator("#report-html").click()
    report = await opened.value
    await expect(report.locator("h1")).to_contain_text("效能评价报告")
    await expect(report.locator("#themes svg")).to_be_visible()
    await expect(
        report.locator('#table-themes tr[data-subject="theme:social"] td').first
    ).to_have_text("2")
    await screens.screenshot(report, "efficiency-report")

    for link, suffix, start in (
        ("#report-pdf", ".pdf", b"%PDF-"),
        ("#report-csv", ".csv", b"\xef\xbb\xbf"),
    ):
        async with page.expect_download() as downloading:
            await page.locator(link).click()
        download = await downloading.value
        assert download.suggested_filename == f"efficiency-report_gz-tianhe-demo_{DAY}{suffix}"
        saved = await download.path()
        assert saved.read_bytes().startswith(start)


async def test_the_report_has_the_follow_ups_as_the_controller_knows_them(api: Api) -> None:
    first, second = await poor_ratings_followed_up(api)
    status, _, body = await fetch(api, f"from={DAY}&format=csv")
    assert status == 200
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    figures = {(s, subject, m): v for s, subject, m, v in rows[1:]}
    # As known now, on 2026-11-30: the second is past its callback deadline, not yet past
    # its rectification deadline; the first was closed today, in time.
    expected = {
        "poor_ratings": "2",
        "callbacks_met": "1",
        "callbacks_missed": "1",
        "callbacks_pending": "0",
        "rectifications_met": "1",
        "rectifications_missed": "0",
        "rectifications_pending": "1",
        "still_open": "1",
    }
    assert {key: figures[("followups", "hall", key)] for key in expected} == expected
    assert figures[("followups", f"ticket:{first}", "closed_at")].startswith("2026-11-30 ")
    assert figures[("followups", f"ticket:{first}", "rectification_state")] == "按时 Met"
    assert figures[("followups", f"ticket:{second}", "window")] == "1号窗口"
    assert figures[("followups", f"ticket:{second}", "rectification_state")] == "未到期 Pending"

    status, _, body = await fetch(api, f"from={DAY}&format=html")
    assert status == 200
    html = body.decode("utf-8")
    part = html.split('<section id="followups"')[1].split("</section>")[0]
    assert "差评整改" in part
    assert f'<tr data-subject="ticket:{first}">' in part
    assert CASE in part
    assert SAID not in html

    # They belong to DAY: the week before has none.
    status, _, body = await fetch(api, "from=2026-11-16&to=2026-11-22&format=csv")
    assert status == 200
    assert "followups,hall,poor_ratings,0" in body.decode("utf-8-sig")
