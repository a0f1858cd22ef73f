"""The demo's applicants at the kiosks: a synthetic ID card on the reader, a ticket, a scan."""

from __future__ import annotations

import asyncio
import random
from datetime import date

import structlog

from hall_controller.core.bookings import BookingRequest
from hall_controller.core.errors import DomainError
from hall_controller.kiosks import KioskService
from hall_controller.protocols.sam_idcard import IdCardText
from hall_controller.services import ServiceError
from hall_controller.settings import Settings
from hall_controller.simulators.hall import SimulatedHall, SimulatorError
from hall_controller.simulators.idcard_reader import synthetic_card

log = structlog.get_logger(__name__)

CARD_WAIT_S = 5.0  # how long an applicant waits for the screen to show the card read


async def run_kiosk_applicants(
    kiosks: KioskService, hall: SimulatedHall, settings: Settings, *, speed: float
) -> None:
    """Applicants at the kiosks, one every minute or so of hall time, until cancelled.

    Half of them put an ID card on the reader first (a third of those are elderly, and their
    tickets come out as priority tickets); some then scan their ticket's QR code to see it.
    Some have booked a few minutes ahead: they scan their booking code and check in.
    """
    rng = random.Random()
    readers = _by_kiosk(settings, "card_reader", hall)
    scanners = _by_kiosk(settings, "code_scanner", hall)
    themes = [theme.id for theme in settings.hall.themes]
    cards = 0
    while True:
        await asyncio.sleep(rng.uniform(30, 120) / speed)
        kiosk = rng.choice(sorted(kiosks.kiosks))
        scanner = scanners.get(kiosk)
        if scanner is not None and rng.random() < 0.15:
            await _booked_applicant(kiosks, hall, kiosk, scanner, rng.choice(themes), rng)
            continue
        token = None
        reader = readers.get(kiosk)
        if reader is not None and rng.random() < 0.5:
            cards += 1
            elderly = rng.random() < 0.33
            birth = date(rng.randint(1938, 1962), rng.randint(1, 12), rng.randint(1, 28))
            card = synthetic_card(cards, birth=birth if elderly else None)
            token = await _read_card(kiosks, hall, kiosk, reader, card)
        try:
            result = await kiosks.issue(
                kiosk,
                theme=rng.choice(themes),
                priority=None,
                card=token,
                actor=f"demo-applicant:{kiosk}",
            )
        except (DomainError, ServiceError) as exc:
            log.info("demo_kiosk_refused", kiosk=kiosk, reason=str(exc))
            continue
        if scanner is not None and rng.random() < 0.3:
            url = kiosks.service.status_url(result["ticket"]["id"])
            try:
                await hall.scan(scanner, url)
            except SimulatorError as exc:
                log.info("demo_scan_failed", kiosk=kiosk, reason=str(exc))


async def _booked_applicant(
    kiosks: KioskService,
    hall: SimulatedHall,
    kiosk: str,
    scanner: str,
    theme: str,
    rng: random.Random,
) -> None:
    """An applicant who booked a little earlier: the booking system books a slot a few minutes
    ahead, the applicant scans the booking code at the kiosk and checks in."""
    service = kiosks.service
    code = f"DEMO{rng.randrange(10**6):06d}"
    slot = service.now() + rng.uniform(60, 300)
    try:
        await service.book_appointments(
            [BookingRequest(theme, slot, code=code, channel="demo")], actor="demo-booking"
        )
    except (DomainError, ServiceError) as exc:
        log.info("demo_booking_refused", kiosk=kiosk, reason=str(exc))
        return
    try:
        await hall.scan(scanner, code)  # the kiosk's screen shows the booking
        await kiosks.check_in(kiosk, code=code, card=None, actor=f"demo-applicant:{kiosk}")
    except (DomainError, ServiceError, SimulatorError) as exc:
        log.info("demo_check_in_refused", kiosk=kiosk, reason=str(exc))


async def _read_card(
    kiosks: KioskService, hall: SimulatedHall, kiosk: str, reader: str, card: IdCardText
) -> str | None:
    """Put the card on the reader and wait for the kiosk's screen to get its token."""
    async with kiosks.subscribe(kiosk) as events:
        try:
            await hall.place_card(reader, card)
            async with asyncio.timeout(CARD_WAIT_S):
                while True:
                    event = await events.get()
                    if event is None:
                        return None
                    if event["event"] == "card":
                        token = event.get("card")
                        return token if isinstance(token, str) else None
        except (TimeoutError, SimulatorError) as exc:
            log.info("demo_card_not_read", kiosk=kiosk, reason=str(exc) or "timed out")
            return None
        finally:
            await hall.remove_card(reader)


def _by_kiosk(settings: Settings, kind: str, hall: SimulatedHall) -> dict[str, str]:
    """The simulated device of this kind at each kiosk."""
    return {
        device.kiosk: device.id
        for device in settings.devices
        if device.profile.kind == kind and device.kiosk is not None and device.id in hall.serial
    }
