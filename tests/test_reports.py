"""The efficiency evaluation report: its figures on a hand-built day with known numbers, empty
days, a week, days the config no longer fits, periods, and the HTML, CSV and PDF it renders."""

from __future__ import annotations

import csv
import io
import re
import zlib
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pytest

from hall_controller.core.bookings import BookingRequest
from hall_controller.core.events import (
    Event,
    SignedIn,
    TicketIssued,
    event_data,
)
from hall_controller.core.followups import FollowUps, followup_id_of
from hall_controller.core.hall import Hall
from hall_controller.core.model import HallConfig
from hall_controller.reports import (
    MAX_DAYS,
    NO_CLERK,
    CjkFont,
    EfficiencyReport,
    FontMissing,
    Metric,
    Period,
    PeriodError,
    ReportError,
    Row,
    Section,
    Table,
    build_report,
    day_period,
    file_name,
    find_cjk_font,
    followup_section,
    month_period,
    range_period,
    render_csv,
    render_html,
    render_pdf,
    week_period,
)
from hall_controller.store import EventRecord

from core_fixtures import (
    ACTOR,
    DAY,
    T0,
    TZ,
    local,
    make_config,
    new_hall,
)

CONFIG = make_config()
STAFF = {"li.na": ("李娜", "Li Na")}


def records(day: str, events: Sequence[Event]) -> list[EventRecord]:
    """The events as the event log hands them back."""
    return [
        EventRecord(n, day, e.at, e.type_name, e.actor, event_data(e))
        for n, e in enumerate(events, start=1)
    ]


def handmade_day() -> tuple[Hall, list[Event]]:
    """A day with known numbers (times in seconds after 09:00):

    windows g1 (A, B; clerk li.na signed in), g2 (B, A; nobody signed in), pickup (C);
    A001 0, A002 60, A003 elderly 120, B001 180, C001 240 (WeChat), A004 300, B002 360,
    B003 400 (transferred to A at 500, still waiting at day end);
    g1: A001 called 600, 630-930, rated 5; A002 called 960, 980-1100, rated 4;
        B001 called 1200, no-show 1300;
    g2: A003 called 720, 740-1340, rated 2; B002 called 1400, held 1420, returned 1500,
        called again 1600, 1610-1910, rated 3;
    pickup: C001 called 1240, 1260-1440;
    A004 cancelled at 1000; a booking for 10:00 nobody came for.
    """
    hall = new_hall(CONFIG)
    log: list[Event] = []
    log += [
        e for w in ("g1", "g2", "pickup") for e in hall.open_window(w, at=T0 - 600, actor=ACTOR)
    ]
    log += hall.record_access(
        SignedIn(at=T0 - 600, actor="staff:li.na", account="li.na", role="staff", window="g1")
    )
    log += hall.book_appointment(
        BookingRequest(theme="A", slot_at=T0 + 3600, code="ABCD1234"), at=T0 - 3600, actor=ACTOR
    )

    def at(seconds: float) -> float:
        return T0 + seconds

    def issued(
        theme: str, seconds: float, priority: str | None = None, channel: str = "kiosk"
    ) -> str:
        events = hall.issue(
            theme=theme, priority=priority, channel=channel, at=at(seconds), actor=ACTOR
        )
        log.extend(events)
        first = events[0]
        assert isinstance(first, TicketIssued)
        return first.ticket_id

    a1 = issued("A", 0)
    a2 = issued("A", 60)
    a3 = issued("A", 120, "elderly")
    b1 = issued("B", 180)
    c1 = issued("C", 240, channel="wechat")
    a4 = issued("A", 300)
    b2 = issued("B", 360)
    b3 = issued("B", 400)
    log += hall.transfer(
        b3, to_theme="A", to_window=None, reason="wrong theme", at=at(500), actor=ACTOR
    )
    log += hall.call_ticket("g1", a1, at=at(600), actor=ACTOR)
    log += hall.start("g1", at=at(630), actor=ACTOR)
    log += hall.call_ticket("g2", a3, at=at(720), actor=ACTOR)
    log += hall.start("g2", at=at(740), actor=ACTOR)
    log += hall.finish("g1", at=at(930), actor=ACTOR)
    log += hall.rate(a1, 5, at=at(935), actor=ACTOR)
    log += hall.call_ticket("g1", a2, at=at(960), actor=ACTOR)
    log += hall.start("g1", at=at(980), actor=ACTOR)
    log += hall.cancel(a4, "left the hall", at=at(1000), actor=ACTOR)
    log += hall.finish("g1", at=at(1100), actor=ACTOR)
    log += hall.rate(a2, 4, at=at(1105), actor=ACTOR)
    log += hall.call_ticket("g1", b1, at=at(1200), actor=ACTOR)
    log += hall.call_ticket("pickup", c1, at=at(1240), actor=ACTOR)
    log += hall.start("pickup", at=at(1260), actor=ACTOR)
    log += hall.no_show("g1", at=at(1300), actor=ACTOR)
    log += hall.finish("g2", at=at(1340), actor=ACTOR)
    log += hall.rate(a3, 2, at=at(1345), actor=ACTOR)
    log += hall.call_ticket("g2", b2, at=at(1400), actor=ACTOR)
    log += hall.hold("g2", "missing document", at=at(1420), actor=ACTOR)
    log += hall.finish("pickup", at=at(1440), actor=ACTOR)
    log += hall.return_ticket(b2, at=at(1500), actor=ACTOR)
    log += hall.call_ticket("g2", b2, at=at(1600), actor=ACTOR)
    log += hall.start("g2", at=at(1610), actor=ACTOR)
    log += hall.finish("g2", at=at(1910), actor=ACTOR)
    log += hall.rate(b2, 3, at=at(1915), actor=ACTOR)
    log += hall.record_missed(at=at(3600 + hall.policy.appointment_late_s + 60), actor="system")
    return hall, log


def one_day_report(config: HallConfig = CONFIG) -> EfficiencyReport:
    _, events = handmade_day()
    return build_report(
        config,
        day_period(DAY),
        [(DAY, records(DAY, events))],
        generated_at=local(18),
        staff_names=STAFF,
    )


@pytest.fixture(scope="module")
def report() -> EfficiencyReport:
    return one_day_report()


# ----------------------------------------------------------------- the figures


def test_waits_to_the_first_call_per_theme_and_overall(report: EfficiencyReport) -> None:
    f = report.figures
    total = f.total.waits
    # First calls waited 600, 600, 900, 1000, 1020, 1040 s; B002's second call is not a wait.
    assert total.times.count == 6
    assert total.times.median_s == 950
    assert total.times.p90_s == 1040  # nearest rank: the 6th of 6
    assert total.times.max_s == 1040
    # A003 (elderly: 25% of 1500 s = 375 s) and C001 (900 s) waited past their targets.
    assert total.within_target == 4
    assert total.within_share == pytest.approx(4 / 6)
    themes = {t.id: t for t in f.themes}
    assert themes["A"].waits.times.median_s == 600
    assert themes["A"].waits.times.p90_s == 900
    assert themes["A"].waits.within_target == 2
    assert themes["B"].waits.times.median_s == 1030
    assert themes["C"].waits.within_share == 0


def test_service_times_and_counts_per_theme(report: EfficiencyReport) -> None:
    f = report.figures
    themes = {t.id: t for t in f.themes}
    assert [themes[t].issued for t in "ABC"] == [4, 3, 1]
    assert [themes[t].served for t in "ABC"] == [3, 1, 1]
    assert themes["A"].service.median_s == 300
    assert themes["A"].service.p90_s == 600
    assert f.total.service.median_s == 300
    assert f.total.service.max_s == 600
    assert f.total.service.mean_s == pytest.approx((300 + 600 + 120 + 180 + 300) / 5)
    assert themes["A"].cancelled == 1
    assert themes["B"].no_show == 1
    assert themes["B"].transferred == 1
    assert themes["B"].held == 1
    assert themes["A"].unfinished == 1  # B003, moved to A, still waiting
    assert f.total.issued == 8
    assert dict(f.channels) == {"kiosk": 7, "wechat": 1}


def test_per_window_and_per_clerk(report: EfficiencyReport) -> None:
    f = report.figures
    windows = {w.id: w for w in f.windows}
    g1, g2 = windows["g1"], windows["g2"]
    assert (g1.calls, g1.served, g1.no_show) == (3, 2, 1)
    assert g1.service.mean_s == 210
    assert g1.ratings.count == 2
    assert g1.ratings.mean == 4.5
    assert (g2.calls, g2.served, g2.no_show) == (3, 2, 0)  # B002 was called twice
    assert g2.ratings.mean == 2.5
    assert windows["pickup"].ratings.count == 0
    assert windows["pickup"].ratings.mean is None
    staff = {s.id: s for s in f.staff}
    assert list(staff) == ["li.na", NO_CLERK]
    assert (staff["li.na"].calls, staff["li.na"].served, staff["li.na"].no_show) == (3, 2, 1)
    assert staff["li.na"].name_zh == "李娜（li.na）"
    assert staff["li.na"].ratings.counts == (1, 1, 0, 0, 0)
    assert (staff[NO_CLERK].calls, staff[NO_CLERK].served) == (4, 3)
    assert staff[NO_CLERK].ratings.counts == (0, 0, 1, 1, 0)


def test_ratings_on_the_five_level_scale(report: EfficiencyReport) -> None:
    ratings = report.figures.ratings
    assert ratings.counts == (1, 1, 1, 1, 0)  # 非常满意 .. 非常不满意
    assert ratings.mean == 3.5
    assert ratings.satisfied_share == 0.75


def test_priority_groups_waited_compared_with_regular_tickets(report: EfficiencyReport) -> None:
    groups = {g.id: g for g in report.figures.groups}
    assert list(groups) == ["elderly", "disabled", "pregnant", "priority", "regular"]
    assert groups["elderly"].waits.times.median_s == 600
    assert groups["elderly"].waits.within_target == 0
    assert groups["disabled"].waits.times.count == 0
    assert groups["priority"].waits.times.count == 1
    regular = groups["regular"].waits
    assert regular.times.median_s == 1000
    assert regular.times.p90_s == 1040
    assert regular.within_share == 0.8


def test_no_shows_and_appointments(report: EfficiencyReport) -> None:
    f = report.figures
    assert f.total.no_show == 1
    assert f.appointments.booked == 1
    assert f.appointments.missed == 1
    assert f.appointments.not_checked_in == 0
    assert f.appointment_tickets == 0
    assert len(f.days) == 1
    assert f.days[0].issued == 8


def test_clerk_is_who_was_signed_in_when_the_window_called() -> None:
    """A clerk who signs in after the call is not credited with that ticket's service."""
    hall = new_hall(CONFIG)
    events: list[Event] = [*hall.open_window("g1", at=T0 - 60, actor=ACTOR)]
    events += hall.issue(theme="A", priority=None, channel="kiosk", at=T0, actor=ACTOR)
    events += hall.call_next("g1", at=T0 + 60, actor=ACTOR)
    events += hall.record_access(
        SignedIn(at=T0 + 70, actor="staff:li.na", account="li.na", role="staff", window="g1")
    )
    events += hall.start("g1", at=T0 + 80, actor=ACTOR)
    events += hall.finish("g1", at=T0 + 200, actor=ACTOR)
    report = build_report(
        CONFIG, day_period(DAY), [(DAY, records(DAY, events))], generated_at=T0 + 300
    )
    staff = {s.id: s for s in report.figures.staff}
    assert list(staff) == [NO_CLERK]
    assert staff[NO_CLERK].served == 1
    assert report.figures.windows[0].served == 1


# ----------------------------------------------------------------- days and periods


def test_a_day_without_events_has_zeros_and_nothing_to_measure() -> None:
    report = build_report(CONFIG, day_period(DAY), [], generated_at=local(18))
    f = report.figures
    assert f.total.issued == 0
    assert f.total.waits.times.median_s is None
    assert f.total.waits.within_share is None
    assert f.ratings.mean is None
    assert [d.day for d in f.days] == [DAY]
    summary = report.sections[0]
    assert any("no events" in en for _, en in summary.notes)
    html = render_html(report).decode()
    assert "—" in html
    rows = list(csv.reader(io.StringIO(render_csv(report).decode("utf-8-sig"))))
    assert ["waits", "all", "median_wait_s", ""] in rows


def test_a_week_replays_every_day_and_adds_them_up() -> None:
    _, monday = handmade_day()
    wednesday = "2024-03-06"
    hall = Hall.new_day(CONFIG, wednesday, TZ)
    later = T0 + 2 * 86400
    quiet: list[Event] = [*hall.open_window("g1", at=later, actor=ACTOR)]
    quiet += hall.issue(theme="A", priority=None, channel="kiosk", at=later, actor=ACTOR)
    quiet += hall.call_next("g1", at=later + 120, actor=ACTOR)
    seen: list[tuple[int, int, str]] = []
    report = build_report(
        CONFIG,
        week_period("2024-W10"),
        [(DAY, records(DAY, monday)), (wednesday, records(wednesday, quiet))],
        generated_at=later,
        progress=lambda done, total, day: seen.append((done, total, day)),
    )
    f = report.figures
    assert [d.day for d in f.days] == [f"2024-03-{n:02d}" for n in range(4, 11)]
    assert f.total.issued == 9
    assert f.total.waits.times.count == 7
    assert f.total.waits.times.median_s == 900  # 120, 600, 600, 900, 1000, 1020, 1040
    assert [d.issued for d in f.days] == [8, 0, 1, 0, 0, 0, 0]
    assert [s[0] for s in seen] == list(range(1, 8))
    assert {s[1] for s in seen} == {7}
    assert [s.id for s in report.sections][-1] == "days"
    assert report.period.slug == "2024-W10"


def test_a_day_the_config_no_longer_fits_is_listed_not_counted() -> None:
    smaller = make_config(windows=[w for w in CONFIG.windows if w.id != "pickup"])
    report = one_day_report(smaller)
    day = report.figures.days[0]
    assert day.skipped is not None
    assert '"pickup"' in day.skipped
    assert report.figures.total.issued == 0
    assert any("not counted" in en for _, en in report.sections[0].notes)


def test_an_event_type_this_version_does_not_know_skips_its_day() -> None:
    strange = EventRecord(1, DAY, T0, "SomethingNew", ACTOR, {})
    report = build_report(CONFIG, day_period(DAY), [(DAY, [strange])], generated_at=T0)
    assert report.figures.days[0].skipped == "an event this version does not know (SomethingNew)"


def test_events_that_do_not_replay_fail_the_report_clearly() -> None:
    # A call of a ticket that was never issued: a log this controller could not have written.
    _, events = handmade_day()
    broken = [r for r in records(DAY, events) if r.type != "TicketIssued"]
    with pytest.raises(ReportError, match=f"{DAY}: event .* does not replay"):
        build_report(CONFIG, day_period(DAY), [(DAY, broken)], generated_at=T0)


def test_periods_name_days_weeks_months_and_ranges() -> None:
    assert day_period("2026-11-28").label_zh == "2026年11月28日（星期六）"
    week = week_period("2026-W48")
    assert (week.first, week.last) == (date(2026, 11, 23), date(2026, 11, 29))
    assert week.slug == "2026-W48"
    assert "第48周" in week.label_zh
    month = month_period("2026-02")
    assert (month.first, month.last, len(month.days)) == (date(2026, 2, 1), date(2026, 2, 28), 28)
    assert month.label_en == "February 2026"
    assert range_period("2026-11-23", "2026-11-29") == week
    assert range_period("2026-12-01", "2026-12-31").kind == "month"
    assert range_period("2026-11-28").kind == "day"
    odd = range_period("2026-11-02", "2026-11-15")
    assert (odd.kind, odd.slug, len(odd.days)) == ("range", "2026-11-02_2026-11-15", 14)
    assert len(range_period("2024-01-01", "2024-12-31").days) == MAX_DAYS


@pytest.mark.parametrize(
    ("make", "field", "words"),
    [
        (lambda: range_period("2026-13-01"), "from", "from must be a date YYYY-MM-DD"),
        (lambda: range_period("28/11/2026"), "from", 'not "28/11/2026"'),
        (lambda: range_period("2026-11-28", "2026-11-2"), "to", "to must be a date"),
        (lambda: range_period("2026-11-29", "2026-11-28"), "from", "is after to (2026-11-28)"),
        (lambda: range_period("2025-01-01", "2026-01-02"), "to", "at most 366 days"),
        (lambda: week_period("2026-48"), "week", "ISO week YYYY-Www"),
        (lambda: week_period("2025-W53"), "week", "2025 has ISO weeks 1 to 52"),
        (lambda: month_period("2026-13"), "month", "month YYYY-MM"),
        (lambda: day_period("2026-02-30"), "day", "day must be a date"),
    ],
)
def test_bad_periods_are_refused_with_what_was_expected(
    make: object, field: str, words: str
) -> None:
    assert callable(make)
    with pytest.raises(PeriodError) as refused:
        make()
    assert refused.value.field == field
    assert words in refused.value.message


# ----------------------------------------------------------------- the renderings


def test_the_html_is_one_page_with_svg_charts_tables_and_both_languages(
    report: EfficiencyReport,
) -> None:
    html = render_html(report).decode("utf-8")
    assert html.startswith("<!doctype html>")
    assert '<html lang="zh-CN">' in html
    assert "效能评价报告" in html
    assert "Efficiency evaluation report" in html
    for theme in CONFIG.themes:
        assert theme.name_zh in html
        assert theme.name_en in html
    for chart in ("themes-themes-volume", "waits-wait-bands", "priority-priority-waits"):
        assert f'id="chart-{chart}"' in html
    assert html.count("<svg") >= 6
    # Self-contained: nothing fetched from anywhere, no scripts.
    assert "<script" not in html
    assert "<link" not in html
    assert re.findall(r'(?:src|href)="(?!#)[^"]*"', html) == []
    assert "font-variant-numeric: tabular-nums" in html
    assert "@media print" in html
    # The figures as a person reads them: minutes, percent, the clerk's name.
    waits = re.search(
        r'<tr class="total" data-subject="all">.*?</tr>', html.split('id="table-waits"')[1]
    )
    assert waits is not None
    assert "<td>15.8</td>" in waits.group(0)  # 950 s
    assert "<td>66.7%</td>" in waits.group(0)
    assert "李娜（li.na）" in html


def test_the_csv_is_long_form_utf8_with_a_bom_and_parses_back(report: EfficiencyReport) -> None:
    data = render_csv(report)
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["section", "subject", "metric", "value"]
    assert all(len(row) == 4 for row in rows)
    figures = {(s, subject, m): v for s, subject, m, v in rows[1:]}
    assert figures[("report", "hall", "hall_name_zh")] == CONFIG.name_zh
    assert figures[("report", "hall", "period")] == DAY
    assert figures[("waits", "all", "median_wait_s")] == "950"
    assert figures[("waits", "all", "within_target_share")] == "0.6667"
    assert figures[("waits", "theme:B", "p90_wait_s")] == "1040"
    assert figures[("service", "all", "mean_service_s")] == "300"
    assert figures[("windows", "window:g1", "mean_rating")] == "4.50"
    assert figures[("staff", f"clerk:{NO_CLERK}", "served")] == "3"
    assert figures[("priority", "group:regular", "within_target_share")] == "0.8000"
    assert figures[("ratings", "score:2", "ratings")] == "1"
    assert figures[("themes", "theme:A", "issued")] == "4"
    assert figures[("channels", "channel:wechat", "tickets")] == "1"
    assert figures[("no-shows", "hall", "appointments_missed")] == "1"
    assert figures[("waits", "band:15-20", "wait-bands")] == "4"  # 900, 1000, 1020, 1040 s


def test_the_pdf_embeds_a_chinese_font_and_has_pages(report: EfficiencyReport) -> None:
    pdf = render_pdf(report)
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert re.search(rb"/BaseFont /[A-Z]{6}\+NotoSansCJKSC", pdf)  # a subset, embedded
    assert b"/FontFile3" in pdf or b"/FontFile2" in pdf
    pages = re.findall(rb"/Type /Page\b(?!s)", pdf)
    assert len(pages) >= 3


def test_a_pdf_without_a_chinese_font_names_the_package_to_install(tmp_path: Path) -> None:
    missing = CjkFont(tmp_path / "NotoSansCJK-Regular.ttc", 2, None, "fonts-noto-cjk")
    with pytest.raises(FontMissing, match="install the Debian package fonts-noto-cjk"):
        find_cjk_font((missing,))
    with pytest.raises(FontMissing, match="fonts-noto-cjk"):
        render_pdf(one_day_report(), font=missing)


def test_file_names_name_the_hall_and_the_period(report: EfficiencyReport) -> None:
    assert file_name(report, "pdf") == f"efficiency-report_test-hall_{DAY}.pdf"
    assert isinstance(report.period, Period)


class _WindowsOpened:
    """A further part of the report, as a new fold adds one: windows opened per day."""

    def __init__(self) -> None:
        self.opened: dict[str, int] = {}

    def begin_day(self, hall: Hall) -> None:
        self.opened[hall.day] = 0

    def observe(self, hall: Hall, event: Event) -> None:
        if event.type_name == "WindowOpened":
            self.opened[hall.day] += 1

    def end_day(self, hall: Hall) -> None:
        pass

    def sections(self) -> Sequence[Section]:
        column = Metric("windows_opened", "开窗次数", "Windows opened")
        rows = tuple(Row(f"day:{d}", d, d, (n,)) for d, n in self.opened.items())
        table = Table("opened", "每日开窗", "Windows opened per day", (column,), rows)
        return (Section("opened", "开窗", "Windows opened", tables=(table,)),)


def test_a_further_section_follows_the_report_s_own_in_every_format() -> None:
    _, events = handmade_day()
    extra = _WindowsOpened()
    report = build_report(
        CONFIG,
        day_period(DAY),
        [(DAY, records(DAY, events))],
        generated_at=local(18),
        extra_sections=[extra],
    )
    assert [s.id for s in report.sections][-1] == "opened"
    assert extra.opened == {DAY: 3}
    assert '<section id="opened"' in render_html(report).decode()
    rows = list(csv.reader(io.StringIO(render_csv(report).decode("utf-8-sig"))))
    assert ["opened", f"day:{DAY}", "windows_opened", "3"] in rows
    assert render_pdf(report).startswith(b"%PDF-")


# ----------------------------------------------------------------- poor ratings' follow-ups

CASE = "44030020240304000777"
CLOSING_DAY = "2024-03-06"  # after the period
SAID = "申请人反映等候过长"  # a note: free text about a complaint, never in the report


def followed_up() -> tuple[list[EventRecord], list[EventRecord]]:
    """DAY's events and the later days' follow-up events: two poor ratings.

    A001 (theme A at g1, li.na signed in, case number CASE) rated 非常不满意 at 09:10, called
    back 11:10 (within its day), closed on 2024-03-06 (after the period, well within 15 days);
    B001 (theme B at g2, nobody signed in) rated 不满意 at 09:20 and never called back.
    """
    hall = new_hall(CONFIG)
    day: list[Event] = [*hall.open_window("g1", at=T0 - 600, actor=ACTOR)]
    day += hall.open_window("g2", at=T0 - 600, actor=ACTOR)
    day += hall.record_access(
        SignedIn(at=T0 - 600, actor="staff:li.na", account="li.na", role="staff", window="g1")
    )
    for window, theme, start, score in (("g1", "A", 0, 1), ("g2", "B", 600, 2)):
        ticket = hall.issue(theme=theme, priority=None, channel="kiosk", at=T0 + start, actor=ACTOR)
        first = ticket[0]
        assert isinstance(first, TicketIssued)
        day += ticket
        day += hall.call_ticket(window, first.ticket_id, at=T0 + start + 60, actor=ACTOR)
        day += hall.start(window, at=T0 + start + 120, actor=ACTOR)
        day += hall.finish(window, at=T0 + start + 540, actor=ACTOR)
        if window == "g1":
            day += hall.record_case_number("g1", CASE, at=T0 + 590, actor="staff:li.na")
        day += hall.rate(first.ticket_id, score, at=T0 + start + 600, actor="pad:" + window)
    followups = FollowUps.replay(day)
    first_followup = followup_id_of(f"{DAY.replace('-', '')}-A001")
    called = followups.call_back(first_followup, SAID, at=T0 + 7800, actor="manager:wang")
    day += called
    followups.apply(called[0])
    closing_at = T0 + 2 * 86400 + 3600
    closed = followups.rectify(
        first_followup, "调整排班", False, at=closing_at, actor="manager:wang"
    )
    on_day = records(DAY, day)
    return on_day, [
        EventRecord(len(on_day) + 1, CLOSING_DAY, e.at, e.type_name, e.actor, event_data(e))
        for e in closed
    ]


def followup_report(at: float, *, later_days: bool = True) -> EfficiencyReport:
    """DAY's report with its follow-ups as known at `at`, from the follow-up events of every
    day (or, without `later_days`, of DAY alone)."""
    period = day_period(DAY)
    day, later = followed_up()
    followups = followup_section(
        CONFIG, period, [*day, *(later if later_days else [])], at=at, staff_names=STAFF
    )
    return build_report(
        CONFIG,
        period,
        [(DAY, day)],
        generated_at=at,
        staff_names=STAFF,
        extra_sections=[followups],
    )


def followups_in(report: EfficiencyReport) -> Section:
    (section,) = [s for s in report.sections if s.id == "followups"]
    return section


def test_the_follow_ups_section_counts_deadlines_met_missed_and_pending() -> None:
    # Three days on: B001's callback (due 09:20 the next day) is missed, its rectification
    # still pending; A001 was called back in time and closed within 15 days.
    report = followup_report(T0 + 3 * 86400)
    section = followups_in(report)
    assert [s.id for s in report.sections][-1] == "followups"
    assert (section.zh, section.en) == ("差评整改", "Follow-ups")
    figures = {f.metric.key: f.value for f in section.figures}
    assert figures == {
        "poor_ratings": 2,
        "callbacks_met": 1,
        "callbacks_missed": 1,
        "callbacks_pending": 0,
        "rectifications_met": 1,
        "rectifications_missed": 0,
        "rectifications_pending": 1,
        "still_open": 1,
    }
    (chart,) = section.charts
    assert [(b.subject, b.values) for b in chart.bars] == [
        ("deadline:met", (1, 1)),
        ("deadline:missed", (1, 0)),
        ("deadline:pending", (0, 1)),
    ]
    assert [s.zh for s in chart.series] == ["回访（1天内）", "整改（15天内）"]


def test_the_follow_ups_are_in_the_html_csv_and_pdf_without_their_notes() -> None:
    report = followup_report(T0 + 3 * 86400)

    html = render_html(report).decode("utf-8")
    part = html.split('<section id="followups"')[1].split("</section>")[0]
    assert "差评整改" in part
    assert 'id="chart-followups-followup-deadlines"' in part
    cells = {
        subject: re.findall(r'<td class="text">(.*?)</td>', row)
        for subject, row in re.findall(r'<tr data-subject="(ticket:[^"]+)">(.*?)</tr>', part)
    }
    assert cells == {
        "ticket:20240304-A001": [
            DAY,
            "g1号窗口",
            "李娜（li.na）",
            "非常不满意 Very dissatisfied",
            CASE,
            "2024-03-05 09:10",
            "2024-03-04 11:10",
            "按时 Met",
            "2024-03-19 09:10",
            "2024-03-06 10:00",
            "按时 Met",
        ],
        "ticket:20240304-B001": [
            DAY,
            "g2号窗口",
            "—",
            "不满意 Dissatisfied",
            "—",
            "2024-03-05 09:20",
            "—",
            "超期 Missed",
            "2024-03-19 09:20",
            "—",
            "未到期 Pending",
        ],
    }
    assert "A001 主题A" in part

    rows = list(csv.reader(io.StringIO(render_csv(report).decode("utf-8-sig"))))
    figures = {(s, subject, m): v for s, subject, m, v in rows[1:]}
    assert figures[("followups", "hall", "poor_ratings")] == "2"
    assert figures[("followups", "hall", "callbacks_missed")] == "1"
    assert figures[("followups", "hall", "rectifications_pending")] == "1"
    first = "ticket:20240304-A001"
    assert figures[("followups", first, "case_number")] == CASE
    assert figures[("followups", first, "called_back_at")] == "2024-03-04 11:10"
    assert figures[("followups", first, "closed_at")] == "2024-03-06 10:00"
    assert figures[("followups", first, "rectification_state")] == "按时 Met"
    second = "ticket:20240304-B001"
    assert figures[("followups", second, "clerk")] == ""
    assert figures[("followups", second, "callback_state")] == "超期 Missed"

    text = pdf_text(render_pdf(report))
    assert "差评整改" in text
    assert "差评整改明细" in text
    assert "A001" in text
    assert "B001" in text

    for rendered in (html, "\n".join(",".join(r) for r in rows), text):
        assert SAID not in rendered
        assert "调整排班" not in rendered


def test_a_follow_up_closed_after_the_period_counts_as_met() -> None:
    # The close is an event of 2024-03-06: only the follow-up events of every day see it.
    section = followups_in(followup_report(T0 + 3 * 86400))
    figures = {f.metric.key: f.value for f in section.figures}
    assert (figures["rectifications_met"], figures["still_open"]) == (1, 1)
    period_only = followups_in(followup_report(T0 + 3 * 86400, later_days=False))
    figures = {f.metric.key: f.value for f in period_only.figures}
    assert (figures["rectifications_met"], figures["still_open"]) == (0, 2)


def test_a_period_without_poor_ratings_says_so() -> None:
    period = day_period(DAY)
    _, events = handmade_day()
    day = [r for r in records(DAY, events) if r.type != "FollowUpOpened"]
    report = build_report(
        CONFIG,
        period,
        [(DAY, day)],
        generated_at=local(18),
        extra_sections=[followup_section(CONFIG, period, day, at=local(18))],
    )
    section = followups_in(report)
    assert {f.metric.key: f.value for f in section.figures}["poor_ratings"] == 0
    assert (section.charts, section.tables) == ((), ())
    assert ("期间没有差评。", "No poor ratings in the period.") in section.notes
    assert "期间没有差评" in render_html(report).decode("utf-8")


def pdf_text(pdf: bytes) -> str:
    """The text drawn in a PDF made by fpdf2, through each font's ToUnicode map."""

    def body(number: bytes) -> bytes:
        found = re.search(rb"(?<![0-9])" + number + rb" 0 obj(.*?)endobj", pdf, re.S)
        assert found is not None
        return found.group(1)

    def stream(obj: bytes) -> bytes:
        head, _, rest = obj.partition(b"stream")
        data = re.sub(rb"\r?\nendstream\s*$", b"", rest.lstrip(b"\r\n"))
        return zlib.decompress(data) if b"/FlateDecode" in head else data

    maps: dict[bytes, dict[int, str]] = {}
    for name, number in set(re.findall(rb"/(F\d+) (\d+) 0 R", pdf)):
        to_unicode = re.search(rb"/ToUnicode (\d+) 0 R", body(number))
        assert to_unicode is not None
        cmap = stream(body(to_unicode.group(1)))
        maps[name] = {
            int(code, 16): chr(int(char, 16))
            for code, char in re.findall(rb"<([0-9A-F]{4})> <([0-9A-F]{4})>", cmap)
        }
    escapes = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}
    text: list[str] = []
    for obj in re.findall(rb"\d+ 0 obj(.*?)endobj", pdf, re.S):
        if b"stream" not in obj or b"/Length" not in obj:
            continue
        try:
            content = stream(obj)
        except zlib.error:
            continue
        font: dict[int, str] = {}
        for name, literal in re.findall(rb"/(F\d+) [\d.]+ Tf|\(((?:\\.|[^\\)])*)\) Tj", content):
            if name:
                font = maps.get(name, {})
                continue
            raw = re.sub(
                rb"\\([0-7]{1,3}|.)",
                lambda m: (
                    bytes([int(m.group(1), 8)])
                    if m.group(1)[:1].isdigit()
                    else escapes.get(m.group(1), m.group(1))
                ),
                literal,
                flags=re.S,
            )
            text.append(
                "".join(font.get(int.from_bytes(raw[i : i + 2]), "") for i in range(0, len(raw), 2))
            )
        text.append("\n")
    return "\n".join(text)
