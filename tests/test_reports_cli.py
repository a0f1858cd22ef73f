"""`hall-controller report`: the efficiency report from a hall's data directory, beside the
running controller, with a progress line on standard error and clear refusals."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_api import DAY, T0, Api, Clock, running_api

from hall_controller.settings import load_settings

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


async def report_command(*args: str, cwd: Path) -> tuple[int, str, str]:
    """Run `hall-controller report ...` in another process without blocking this loop."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hall_controller",
        "report",
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def report_sync(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hall_controller", "report", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
async def hall(demo_config_path: Path, tmp_path: Path) -> AsyncIterator[Api]:
    """The demo hall's controller, running, after a little work at window 1."""
    async with running_api(load_settings(demo_config_path), tmp_path / "data", Clock(T0)) as api:
        await api.post("/api/v1/windows/1/open")
        await api.issue("social")
        await api.issue("police")
        api.clock.advance(298)  # each write is a second more: A001 waits 300 s to its call
        called = await api.post("/api/v1/windows/1/call")
        await api.post("/api/v1/windows/1/start")
        await api.post("/api/v1/windows/1/finish")
        await api.post(f"/api/v1/tickets/{called['ticket']['id']}/rating", {"score": 4})
        yield api


async def test_the_report_is_written_beside_the_running_controller(
    hall: Api, demo_config_path: Path, tmp_path: Path
) -> None:
    config, data = str(demo_config_path), str(hall.data_dir)
    status, out, err = await report_command(
        "--config", config, "--data-dir", data, "--day", DAY, "--format", "csv", cwd=tmp_path
    )
    assert status == 0, err
    # Not a terminal: plain progress lines, no carriage returns.
    assert f"report: 1/1 days replayed ({DAY})" in err
    assert "\r" not in err
    written = tmp_path / f"efficiency-report_gz-tianhe-demo_{DAY}.csv"
    assert f"{written.name} (" in out
    rows = list(csv.reader(io.StringIO(written.read_text(encoding="utf-8-sig"))))
    figures = {(s, subject, m): v for s, subject, m, v in rows[1:]}
    assert figures[("themes", "all", "issued")] == "2"
    assert figures[("waits", "all", "median_wait_s")] == "300"
    assert figures[("ratings", "hall", "mean_rating")] == "4.00"

    # The controller goes on working while reports are read: a later report sees more.
    await hall.issue("pickup")
    out_file = tmp_path / "week.html"
    status, _, err = await report_command(
        "--config",
        config,
        "--data-dir",
        data,
        "--week",
        "2026-W48",
        "--out",
        str(out_file),
        cwd=tmp_path,
    )
    assert status == 0, err
    assert "report: 7/7 days replayed (2026-11-29)" in err
    html = out_file.read_text(encoding="utf-8")
    assert "2026年第48周" in html
    assert "<svg" in html
    assert '<tr class="total" data-subject="all"><th scope="row">合计' in html

    status, _, err = await report_command(
        "--config", config, "--data-dir", data, "--from", DAY, "--format", "pdf", cwd=tmp_path
    )
    assert status == 0, err
    pdf = tmp_path / f"efficiency-report_gz-tianhe-demo_{DAY}.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert err.splitlines() == [f"report: 1/1 days replayed ({DAY})"]  # and nothing else


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--from", "2026-11-29", "--to", "2026-11-28"), "--from (2026-11-29) is after --to"),
        (("--week", "2026-W60"), "2026 has ISO weeks 1 to 53, not week 60"),
        (("--month", "2026-13"), "--month must be a month YYYY-MM"),
        (
            ("--day", "28.11.2026"),
            '--day must be a date YYYY-MM-DD, such as 2026-11-28, not "28.11',
        ),
        (("--from", "2025-01-01", "--to", "2026-11-28"), "at most 366 days"),
    ],
)
def test_a_bad_period_exits_2_with_what_was_expected(
    args: tuple[str, ...], words: str, demo_config_path: Path, tmp_path: Path
) -> None:
    result = report_sync("--config", str(demo_config_path), *args, cwd=tmp_path)
    assert result.returncode == 2
    assert words in result.stderr
    assert list(tmp_path.glob("efficiency-report_*")) == []


def test_to_without_from_and_no_period_at_all_are_usage_errors(
    demo_config_path: Path, tmp_path: Path
) -> None:
    config = str(demo_config_path)
    result = report_sync("--config", config, "--day", DAY, "--to", DAY, cwd=tmp_path)
    assert (result.returncode, result.stderr.strip()) == (2, "report: --to needs --from")
    result = report_sync("--config", config, cwd=tmp_path)
    assert result.returncode == 2
    assert "one of the arguments --day --week --month --from is required" in result.stderr


def test_a_data_dir_without_an_event_log_is_a_clear_failure(
    demo_config_path: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "nothing-here"
    result = report_sync(
        "--config", str(demo_config_path), "--data-dir", str(empty), "--day", DAY, cwd=tmp_path
    )
    assert result.returncode == 1
    assert f"no event log at {empty / 'events.sqlite3'}" in result.stderr
    assert "--data-dir" in result.stderr
    assert not empty.exists()  # reading never creates anything


CASE = "44030020261128000456"
SAID = "申请人反映等候过长"  # a note written on a follow-up: never in a report
DAY_S = 24 * 3600
MANAGER = {"X-Actor": "manager:wang.li"}


async def poor_ratings_followed_up(api: Api) -> tuple[str, str]:
    """Two poor ratings at window 1 on DAY, and their follow-ups; the tickets' ids.

    The first (case number CASE, 非常不满意) is called back within the hour and closed two
    days later, on 2026-11-30; the second (不满意) is called back only then, past its 1-day
    callback deadline, and stays open.
    """
    if (await api.get("/api/v1/windows/1"))["status"] == "closed":
        await api.post("/api/v1/windows/1/open")
    tickets = []
    for score in (1, 2):
        ticket = await api.issue("social")
        await api.post("/api/v1/windows/1/call", {"ticket": ticket["id"]})
        await api.post("/api/v1/windows/1/start")
        await api.post("/api/v1/windows/1/finish")
        if score == 1:
            await api.post("/api/v1/windows/1/case-number", {"case_number": CASE})
        await api.post(f"/api/v1/tickets/{ticket['id']}/rating", {"score": score})
        tickets.append(ticket["id"])
    first, second = tickets
    api.clock.advance(3600)
    await api.post(f"/api/v1/followups/fu-{first}/callback", {"note": SAID}, headers=MANAGER)
    api.clock.advance(2 * DAY_S)
    await api.post(f"/api/v1/followups/fu-{second}/callback", {"note": SAID}, headers=MANAGER)
    await api.post(f"/api/v1/followups/fu-{first}/close", {"note": SAID}, headers=MANAGER)
    return first, second


async def test_the_report_has_the_follow_ups_of_the_period_closed_after_it(
    hall: Api, demo_config_path: Path, tmp_path: Path
) -> None:
    first, second = await poor_ratings_followed_up(hall)
    status, out, err = await report_command(
        "--config",
        str(demo_config_path),
        "--data-dir",
        str(hall.data_dir),
        "--day",
        DAY,
        "--format",
        "csv",
        "--out",
        "-",
        cwd=tmp_path,
    )
    assert status == 0, err
    rows = list(csv.reader(io.StringIO(out.removeprefix("\ufeff"))))
    figures = {(s, subject, m): v for s, subject, m, v in rows[1:]}
    assert figures[("followups", "hall", "poor_ratings")] == "2"
    assert figures[("followups", "hall", "callbacks_met")] == "1"
    assert figures[("followups", "hall", "callbacks_missed")] == "1"
    # Closed on 2026-11-30, in that day's log: within its 15 days all the same.
    assert figures[("followups", "hall", "rectifications_met")] == "1"
    assert figures[("followups", f"ticket:{first}", "case_number")] == CASE
    assert figures[("followups", f"ticket:{first}", "score")] == "非常不满意 Very dissatisfied"
    assert figures[("followups", f"ticket:{first}", "callback_state")] == "按时 Met"
    assert figures[("followups", f"ticket:{first}", "closed_at")].startswith("2026-11-30 ")
    assert figures[("followups", f"ticket:{first}", "rectification_state")] == "按时 Met"
    assert figures[("followups", f"ticket:{second}", "callback_state")] == "超期 Missed"
    assert figures[("followups", f"ticket:{second}", "called_back_at")].startswith("2026-11-30 ")
    assert SAID not in out
