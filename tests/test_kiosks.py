"""Kiosks: no ticket without a confirmed print, voided numbers never reused, cards and scans."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from hall_controller.app import open_hall
from hall_controller.core.errors import Conflict, InvalidCommand
from hall_controller.core.model import TicketPrint, TicketStatus
from hall_controller.kiosks import KioskService, PrinterView, PrintRefused
from hall_controller.services import HallService, ServiceUnavailable
from hall_controller.settings import Settings, load_settings
from hall_controller.store import EventLog

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

T0 = 1795831200.0  # 2026-11-28 10:00 in Guangzhou
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(birth: date, serial: str = "731") -> str:
    """A synthetic resident ID number with a correct GB 11643 check digit."""
    first17 = f"440106{birth:%Y%m%d}{serial}"
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return first17 + "10X98765432"[total % 11]


class Printers:
    """Kiosk printers whose answers the test decides: each print confirms, fails or hangs."""

    def __init__(self) -> None:
        self.views = {
            "k1-printer": PrinterView("k1-printer", "k1", True, "ok", "ready"),
            "k2-printer": PrinterView("k2-printer", "k2", True, "ok", "ready"),
        }
        self.printed: list[tuple[str, TicketPrint]] = []
        self.fail_with: str | None = None
        self.hang = False

    def printers(self) -> list[PrinterView]:
        return list(self.views.values())

    async def print_ticket(self, printer: str, ticket: TicketPrint) -> None:
        if self.hang:
            await asyncio.Event().wait()
        if self.fail_with is not None:
            raise PrintRefused(self.fail_with)
        self.printed.append((printer, ticket))

    def out_of_paper(self, printer: str) -> None:
        view = self.views[printer]
        self.views[printer] = PrinterView(view.device_id, view.kiosk, False, "out", "alert")


class Rig:
    def __init__(self, settings: Settings, data_dir: Path) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.printers = Printers()
        self.service: HallService
        self.log: EventLog
        self.kiosks: KioskService

    async def open(self) -> None:
        # A clock that moves on a little at each reading: tickets arrive one after another.
        ticks = itertools.count()
        self.service, self.log = open_hall(
            self.settings, self.data_dir, lambda: T0 + next(ticks) * 0.01
        )
        self.log.start(asyncio.get_running_loop())
        await self.service.void_unconfirmed()
        self.kiosks = KioskService(self.service, self.printers)

    async def close(self) -> None:
        await self.kiosks.close()
        await self.log.close()

    async def events(self) -> list[tuple[str, dict[str, Any]]]:
        await self.log.flush()
        return [(e.type, e.data) for e in self.log.events()]


@pytest.fixture
async def rig(demo_config_path: Path, tmp_path: Path) -> AsyncIterator[Rig]:
    rig = Rig(load_settings(demo_config_path), tmp_path / "data")
    await rig.open()
    try:
        yield rig
    finally:
        await rig.close()


async def test_a_printed_ticket_is_issued_only_after_the_print_is_confirmed(rig: Rig) -> None:
    await rig.service.issue_ticket(
        theme="social", priority=None, id_number=None, channel="api", actor="t"
    )
    result = await rig.kiosks.issue("k1", theme="social", priority=None, card=None, actor="k")
    assert result["printed"] is True
    assert result["printer"] == "k1-printer"
    assert result["ticket"]["number"] == "A002"
    assert result["ticket"]["status"] == "waiting"
    printer, paper = rig.printers.printed[0]
    assert printer == "k1-printer"
    assert paper.number == "A002"
    assert paper.hall_name == "广州市天河区政务服务中心（演示）"
    assert paper.theme_name == "社会民生"
    assert paper.people_ahead == 1
    assert paper.qr_url == rig.service.status_url("20261128-A002")
    assert paper.qr_url.startswith("http://127.0.0.1:8080/t/20261128-A002.")
    assert paper.issued_at == "2026-11-28 10:00"
    assert "请保管好您的号票" in paper.footer
    types = [t for t, _ in await rig.events()]
    assert types == ["TicketIssued", "TicketReserved", "TicketIssued"]


async def test_a_failed_print_voids_its_number_and_gives_a_screen_ticket(rig: Rig) -> None:
    rig.printers.fail_with = "paper out"
    result = await rig.kiosks.issue("k1", theme="police", priority=None, card=None, actor="k")
    assert result["printed"] is False
    assert result["voided"] == "B001"
    assert result["reason"] == "paper out"
    assert result["ticket"]["number"] == "B002"
    assert result["ticket"]["channel"] == "kiosk-screen"
    assert result["qr_url"] == rig.service.status_url("20261128-B002")
    hall = rig.service.current()
    assert hall.ticket("B001").status is TicketStatus.VOIDED
    assert [t.number for t in hall.waiting()] == ["B002"]
    events = await rig.events()
    assert [t for t, _ in events] == ["TicketReserved", "TicketVoided", "TicketIssued"]
    assert "paper out" in events[1][1]["reason"]

    # After a restart the voided number stays spent.
    await rig.close()
    await rig.open()
    again = await rig.service.issue_ticket(
        theme="police", priority=None, id_number=None, channel="api", actor="t"
    )
    assert again.body["number"] == "B003"


async def test_a_kiosk_without_paper_sends_applicants_elsewhere_without_spending_a_number(
    rig: Rig,
) -> None:
    rig.printers.out_of_paper("k1-printer")
    view = rig.kiosks.view("k1")
    assert view["printer"]["can_print"] is False
    assert [p["kiosk"] for p in view["other_printers"]] == ["k2"]
    result = await rig.kiosks.issue("k1", theme="social", priority=None, card=None, actor="k")
    assert result["printed"] is False
    assert "out of paper" in result["reason"]
    assert result["other_printers"][0]["name_zh"] == "2号自助取号机"
    assert "voided" not in result
    assert rig.printers.printed == []
    assert [t for t, _ in await rig.events()] == ["TicketIssued"]


async def test_a_print_that_never_answers_is_voided_not_issued(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hall_controller.kiosks.PRINT_DEADLINE_S", 0.2)
    rig.printers.hang = True
    result = await rig.kiosks.issue("k2", theme="social", priority=None, card=None, actor="k")
    assert result["voided"] == "A001"
    assert result["ticket"]["number"] == "A002"
    assert rig.service.current().ticket("A001").status is TicketStatus.VOIDED


async def test_a_controller_stopped_mid_print_voids_the_number_at_its_next_start(
    rig: Rig,
) -> None:
    ticket = await rig.service.reserve_ticket(
        theme="social",
        priority=None,
        applicant=None,
        channel="kiosk",
        printer="k1-printer",
        actor="k",
    )
    await rig.log.flush()
    # No confirmation, no void: as if the process was killed while the printer worked.
    await rig.close()
    await rig.open()
    hall = rig.service.current()
    assert hall.ticket(ticket.id).status is TicketStatus.VOIDED
    assert hall.printing() == []
    events = await rig.events()
    assert events[-1][0] == "TicketVoided"
    assert "restarted" in events[-1][1]["reason"]


async def test_a_retried_kiosk_request_prints_once(rig: Rig) -> None:
    first = asyncio.create_task(
        rig.kiosks.issue("k1", theme="social", priority=None, card=None, actor="k", key="tap-1")
    )
    second = asyncio.create_task(
        rig.kiosks.issue("k1", theme="social", priority=None, card=None, actor="k", key="tap-1")
    )
    assert await first == await second
    assert len(rig.printers.printed) == 1


async def test_an_id_card_gives_the_screen_a_masked_view_and_the_ticket_its_priority(
    rig: Rig,
) -> None:
    number = resident_id(date(1950, 3, 1))
    async with rig.kiosks.subscribe("k1") as queue:
        rig.kiosks.resident_card("k1", id_number=number, name="张三丰", valid_to="长期")
        card = await asyncio.wait_for(queue.get(), 2)
    assert card is not None
    assert card["event"] == "card"
    assert card["name"] == "张*丰"
    assert card["id_number"] == number[:4] + "*" * 10 + number[-4:]
    assert card["age_band"] == "70-79"
    assert card["priority"] == "elderly"
    assert card["expired"] is False
    assert number not in str(card)

    result = await rig.kiosks.issue(
        "k1", theme="social", priority=None, card=card["card"], actor="k"
    )
    assert result["ticket"]["priority"] == "elderly"
    assert result["ticket"]["age_band"] == "70-79"
    assert rig.printers.printed[0][1].priority_mark == "优先 老年人"
    stored = await rig.events()
    assert number not in str(stored)

    # The token is spent; a second read of the same card holds the same person.
    with pytest.raises(InvalidCommand):
        await rig.kiosks.issue("k1", theme="social", priority=None, card=card["card"], actor="k")
    async with rig.kiosks.subscribe("k1") as queue:
        rig.kiosks.resident_card("k1", id_number=number, name="张三丰", valid_to="长期")
        again = await asyncio.wait_for(queue.get(), 2)
    assert again is not None
    with pytest.raises(Conflict, match="A001"):
        await rig.kiosks.issue("k1", theme="social", priority=None, card=again["card"], actor="k")


async def test_a_card_token_works_only_at_the_kiosk_that_read_it(rig: Rig) -> None:
    async with rig.kiosks.subscribe("k1") as queue:
        rig.kiosks.resident_card(
            "k1", id_number=resident_id(date(1990, 1, 2)), name="李四", valid_to="20300101"
        )
        card = await asyncio.wait_for(queue.get(), 2)
    assert card is not None
    assert card["priority"] is None
    with pytest.raises(InvalidCommand, match="read it again"):
        await rig.kiosks.issue("k2", theme="social", priority=None, card=card["card"], actor="k")


async def test_a_bad_id_number_is_reported_to_the_screen_without_echoing_it(rig: Rig) -> None:
    bad = resident_id(date(1980, 5, 6))[:-1] + (
        "0" if resident_id(date(1980, 5, 6))[-1] != "0" else "1"
    )
    async with rig.kiosks.subscribe("k1") as queue:
        rig.kiosks.resident_card("k1", id_number=bad, name="王五", valid_to="长期")
        card = await asyncio.wait_for(queue.get(), 2)
    assert card is not None
    assert card["ok"] is False
    assert "check digit" in card["error"]
    assert bad not in str(card)


async def test_a_scanned_ticket_qr_shows_that_ticket_and_other_codes_are_unknown(
    rig: Rig,
) -> None:
    result = await rig.kiosks.issue("k1", theme="social", priority=None, card=None, actor="k")
    url = rig.printers.printed[0][1].qr_url
    assert url is not None
    async with rig.kiosks.subscribe("k2") as queue:
        rig.kiosks.code_scanned("k2", url)
        rig.kiosks.code_scanned("k2", "A001")
        rig.kiosks.code_scanned("k2", "not-a-ticket")
        seen = [await asyncio.wait_for(queue.get(), 2) for _ in range(3)]
    assert [s["kind"] for s in seen if s is not None] == ["ticket", "ticket", "unknown"]
    first = seen[0]
    assert first is not None
    assert first["ticket"]["id"] == result["ticket"]["id"]
    assert first["ticket"]["number"] == "A001"
    assert "call" not in first["ticket"]  # no other applicant's data on a public screen
    assert "channel" not in first["ticket"]


async def test_a_reprint_of_a_waiting_ticket_is_printed_and_audited(rig: Rig) -> None:
    result = await rig.kiosks.issue("k1", theme="social", priority=None, card=None, actor="k")
    ticket_id = result["ticket"]["id"]
    again = await rig.kiosks.reprint(ticket_id, kiosk_id="k2", reason="纸票遗失", actor="staff-1")
    assert again["printer"] == "k2-printer"
    printer, paper = rig.printers.printed[-1]
    assert (printer, paper.reprint, paper.number) == ("k2-printer", True, "A001")
    events = await rig.events()
    assert events[-1][0] == "TicketReprinted"
    assert events[-1][1] == {"ticket_id": ticket_id, "printer": "k2-printer", "reason": "纸票遗失"}

    await rig.service.window_action("1", "open", actor="c")
    await rig.service.call("1", ticket=None, actor="c")
    with pytest.raises(Conflict, match="waiting"):
        await rig.kiosks.reprint(ticket_id, kiosk_id="k2", reason="x", actor="staff-1")


async def test_a_kiosk_that_hangs_up_mid_print_does_not_cut_the_print_short(rig: Rig) -> None:
    gate = asyncio.Event()
    real_print = rig.printers.print_ticket

    async def slow_print(printer: str, ticket: TicketPrint) -> None:
        await gate.wait()
        await real_print(printer, ticket)

    rig.printers.print_ticket = slow_print  # type: ignore[method-assign]
    caller = asyncio.create_task(
        rig.kiosks.issue("k1", theme="social", priority=None, card=None, actor="k", key="t-9")
    )
    await asyncio.sleep(0.05)  # reserved, printing
    assert rig.service.current().ticket("A001").status is TicketStatus.PRINTING
    caller.cancel()  # the browser reloads
    with pytest.raises(asyncio.CancelledError):
        await caller
    gate.set()
    # The retry with the same key gets the outcome of the print that went on.
    result = await rig.kiosks.issue(
        "k1", theme="social", priority=None, card=None, actor="k", key="t-9"
    )
    assert (result["printed"], result["ticket"]["number"]) == (True, "A001")
    assert len(rig.printers.printed) == 1


async def test_stopping_the_controller_mid_print_voids_the_number_it_could_not_confirm(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hall_controller.kiosks.PRINT_DEADLINE_S", 0.3)
    rig.printers.hang = True
    caller = asyncio.create_task(
        rig.kiosks.issue("k1", theme="social", priority=None, card=None, actor="k")
    )
    await asyncio.sleep(0.05)
    await rig.kiosks.close()
    result = await caller
    assert result["voided"] == "A001"
    assert rig.service.current().ticket("A001").status is TicketStatus.VOIDED
    with pytest.raises(ServiceUnavailable, match="stopping"):
        await rig.kiosks.issue("k1", theme="social", priority=None, card=None, actor="k")
