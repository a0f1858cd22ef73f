"""The devices' way into the hall: keys, ratings, cards and codes carried out as use cases."""

from __future__ import annotations

from hall_controller.core.errors import Conflict, DomainError, InvalidCommand, NotFound
from hall_controller.core.hall import Hall, RatingRequired
from hall_controller.core.model import TicketPrint, WindowStatus
from hall_controller.devices.base import NoTestFire
from hall_controller.devices.errors import DeviceError
from hall_controller.devices.hub import DeviceHub
from hall_controller.devices.model import CardPresented, ContactCard, InputResult, KioskInput
from hall_controller.kiosks import KioskService, PrinterView, PrintRefused
from hall_controller.services import HallService, ServiceError

# Keys that map one-to-one onto window actions of the service.
_WINDOW_KEYS = {
    "recall": "recall",
    "start": "start",
    "finish": "finish",
    "no_show": "no-show",
    "resume": "resume",
}
# Short texts for a pad's display (8-16 characters).
_REFUSED = {
    # The finished service's rating is to be asked first: the pad's rate key, then call.
    RatingRequired: "请先评价",
    Conflict: "无法操作",
    InvalidCommand: "无法操作",
    NotFound: "无此窗口",
}


class ServiceHallPort:
    """Implements the device hub's HallPort over a HallService."""

    def __init__(
        self,
        service: HallService,
        *,
        kiosks: KioskService | None = None,
        pause_reason: str = "呼叫器暂停",
    ) -> None:
        self.service = service
        self.kiosks = kiosks
        self.pause_reason = pause_reason

    def kiosk_input(self, item: KioskInput) -> None:
        """A card or a code at a kiosk goes to its screen (the ID number goes no further)."""
        kiosks = self.kiosks
        if kiosks is None or item.kiosk is None:
            return
        if not isinstance(item, CardPresented):
            kiosks.code_scanned(item.kiosk, item.code)
        elif isinstance(item.card, ContactCard):
            kiosks.contact_card(item.kiosk, atr=item.card.atr, card_number=item.card.card_number)
        else:
            card = item.card
            kiosks.resident_card(
                item.kiosk, id_number=card.id_number, name=card.name, valid_to=card.valid_to
            )

    def hall(self) -> Hall:
        """The hall's current state."""
        return self.service.current()

    async def pad_action(
        self, window: str, action: str, actor: str, *, transfer_to: str | None
    ) -> InputResult:
        """Carry out one key; the result says what the pad should show."""
        try:
            # A pad has no sign-in of its own: its keys are the clerk's signed in at the window
            # (who may have taken it over from an absent colleague, 同岗替代).
            clerk = self.hall().window(window).clerk
            if clerk is not None:
                actor = f"{clerk} via {actor}"
            return await self._act(window, action, actor, transfer_to)
        except DomainError as exc:
            return InputResult(False, _REFUSED.get(type(exc), "无法操作"), self._busy(window))
        except ServiceError:
            return InputResult(False, "系统故障")

    async def rate(self, ticket_id: str, score: int, actor: str) -> InputResult:
        """Store one rating; a second rating of the same ticket is refused by the hall."""
        try:
            await self.service.ticket_action(ticket_id, "rate", actor=actor, score=score)
        except DomainError:
            return InputResult(False, "已评价")
        except ServiceError:
            return InputResult(False, "系统故障")
        return InputResult(True, "谢谢评价")

    async def _act(
        self, window: str, action: str, actor: str, transfer_to: str | None
    ) -> InputResult:
        service = self.service
        status = self.hall().window(window).status
        if action == "call":
            if status is WindowStatus.CLOSED:
                # A hardware pad has no login: its first call opens the window.
                await service.window_action(window, "open", actor=actor, view=False)
            elif status is WindowStatus.PAUSED:
                await service.window_action(window, "resume", actor=actor, view=False)
            reply = await service.call(window, ticket=None, actor=actor, view=False)
            if reply.status == 204:
                return InputResult(False, "无人等候", self._busy(window))
        elif action == "pause":
            # One key on most pads: pause when working, resume when paused.
            if status is WindowStatus.PAUSED:
                await service.window_action(window, "resume", actor=actor, view=False)
                return InputResult(True, "恢复服务", self._busy(window))
            await service.window_action(
                window, "pause", actor=actor, reason=self.pause_reason, view=False
            )
            return InputResult(True, "暂停服务")
        elif action == "transfer":
            ticket = self.hall().current_ticket(window)
            if ticket is None or transfer_to is None:
                return InputResult(False, "无法转移", self._busy(window))
            await service.ticket_action(
                ticket.id, "transfer", actor=actor, to_window=transfer_to, reason="呼叫器转移"
            )
            return InputResult(True, f"转{transfer_to}号窗", self._busy(window))
        elif action == "rate":
            try:
                await service.request_rating(window, actor=actor)
            except Conflict:
                return InputResult(False, "无可评价", self._busy(window))
            return InputResult(True, "请评价", self._busy(window))
        elif action in _WINDOW_KEYS:
            await service.window_action(window, _WINDOW_KEYS[action], actor=actor, view=False)
        else:
            return InputResult(False, "无此按键", self._busy(window))
        ticket = self.hall().current_ticket(window)
        return InputResult(
            True, ticket.number if ticket is not None else "完成", ticket is not None
        )

    def _busy(self, window: str) -> bool:
        try:
            return self.hall().current_ticket(window) is not None
        except DomainError:
            return False


class HubKioskDevices:
    """Implements the kiosks' KioskDevices over the device hub's printers."""

    def __init__(self, hub: DeviceHub) -> None:
        self.hub = hub

    def printers(self) -> list[PrinterView]:
        """Every kiosk printer and whether it can print now."""
        return [
            PrinterView(p.id, p.config.kiosk or "", p.can_print, p.paper, p.health.state.value)
            for p in self.hub.printers.values()
        ]

    async def print_ticket(self, printer: str, ticket: TicketPrint) -> None:
        """Print and confirm one ticket; PrintRefused with the printer's reason otherwise."""
        try:
            await self.hub.print_ticket(printer, ticket)
        except DeviceError as exc:
            raise PrintRefused(str(exc)) from exc


class HubDeviceBench:
    """Implements the technician's DeviceBench over the device hub (test-fires)."""

    def __init__(self, hub: DeviceHub) -> None:
        self.hub = hub

    async def test_fire(self, device_id: str) -> tuple[str, str]:
        """Test one device by its driver's test; the hub's refusals in the hall's terms."""
        if device_id not in self.hub.devices:
            raise NotFound(f'no device "{device_id}"', device=device_id)
        try:
            fired = await self.hub.test_fire(device_id)
        except NoTestFire as exc:
            raise InvalidCommand(str(exc), device=device_id) from None
        except DeviceError as exc:
            raise Conflict(str(exc), device=device_id) from None
        return fired.action, fired.done
