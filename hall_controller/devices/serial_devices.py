"""Devices on a serial port or RS-485 bus: LED boards, Modbus displays, call pads, rating pads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ModbusPDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    WriteMultipleRegistersRequest,
)

from hall_controller.devices.base import Device, DeviceContext, TestFired
from hall_controller.devices.bus import SerialBus
from hall_controller.devices.health import DeviceState
from hall_controller.devices.model import (
    EmergencyNotice,
    InputResult,
    KeyPressed,
    MessagePages,
    RatingGiven,
    WindowShowing,
)
from hall_controller.profiles import (
    DeviceConfig,
    ModbusDisplaySettings,
    Rf433Settings,
)
from hall_controller.protocols import callpad, led_board, numeric_display, rating_pad
from hall_controller.protocols.callpad import CallPadCodec
from hall_controller.protocols.framed import Frame, FrameDecoder, Framing
from hall_controller.protocols.led_board import LedBoardCodec
from hall_controller.protocols.rating_pad import RatingPadCodec
from hall_controller.protocols.rf433 import HeldKeyFilter, RemoteBindings, Rf433Decoder

log = structlog.get_logger("hall_controller.devices")


class SerialDevice(Device):
    """A device on a bus: counts frames, keeps a ping watchdog, resends its snapshot on return."""

    def __init__(self, config: DeviceConfig, context: DeviceContext, bus: SerialBus) -> None:
        super().__init__(config, context)
        self.bus = bus
        self.address = config.address
        timeouts = config.profile.timeouts
        self._ping_every_s = timeouts.ping_every_s
        self._watchdog_s = timeouts.watchdog_s
        self._refresh_every_s = timeouts.refresh_every_s
        self._last_answer = 0.0
        bus.attach(self)

    # --- the bus's calls ----------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Decode bus bytes; frames for other addresses are ignored."""
        raise NotImplementedError

    def link_up(self) -> None:
        """The port opened: the device is taken as present until its watchdog says otherwise."""
        self._last_answer = asyncio.get_running_loop().time()
        self.set_state(DeviceState.READY)
        self.send_snapshot()
        if self._ping_every_s and self._watchdog_s:
            self.spawn(self._watch(), "watchdog")
        if self._refresh_every_s:
            self.spawn(self._refresh(), "refresh")

    def link_down(self, reason: str) -> None:
        """The port is gone."""
        for task in list(self._tasks):
            task.cancel()
        self.set_state(DeviceState.LOST, reason)

    def dropped(self, frame: bytes) -> None:
        """A frame never reached the device."""
        self.health.error(f"dropped {len(frame)}-byte frame: the bus was down or too slow")

    def idle(self) -> None:
        """The line has been quiet for a while."""

    def failed(self, exc: Exception) -> None:
        """Handling bytes from the bus raised: counted and logged, the bus goes on."""
        self.health.error(f"{type(exc).__name__}: {exc}")
        log.exception("device_frame_failed", device=self.id)

    # --- for subclasses -----------------------------------------------------------------

    def send(self, frame: bytes, note: str | None = None) -> None:
        """Queue a frame for the device (`note`: what it is, for the technician console)."""
        if not self.bus.is_up:
            return
        self.health.sent(frame, note)
        self.bus.send(self, frame)

    def restore_after(self, seconds: float) -> None:
        """Show the window's state again `seconds` after a technician's test."""
        self.spawn(self._restore_later(seconds), "test-restore")

    async def _restore_later(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.restore()

    def restore(self) -> None:
        """Send what the device should show now, after a test."""
        self.send_snapshot()

    def answered(self, frame: bytes | None = None) -> None:
        """The device sent a valid frame: alive. After a silence it gets a full snapshot."""
        self._last_answer = asyncio.get_running_loop().time()
        self.health.seen(self.context.clock(), frame)
        if self.health.state is DeviceState.LOST and self.bus.is_up:
            self.health.reconnects += 1
            self.set_state(DeviceState.READY)
            self.send_snapshot()

    def send_snapshot(self) -> None:
        """Send everything the device should show now (no blink)."""
        if self.showing is not None:
            self.draw(self.showing, snapshot=True)

    def render(self, showing: WindowShowing) -> None:
        """Show the window's new state."""
        super().render(showing)
        if self.bus.is_up:
            self.draw(showing, snapshot=False)

    def draw(self, showing: WindowShowing, *, snapshot: bool) -> None:
        """Send the frames that make the device show `showing`."""

    def ping_frame(self) -> bytes | None:
        """The watchdog's ping, if the device answers one."""
        return None

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_every_s)
            self.send_snapshot()

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._ping_every_s)
            frame = self.ping_frame()
            if frame is not None:
                self.send(frame)
            silent = loop.time() - self._last_answer
            if silent > self._watchdog_s and self.health.state is not DeviceState.LOST:
                self.set_state(DeviceState.LOST, f"no answer for {silent:.1f} s")


class FramedDevice(SerialDevice):
    """A device speaking a data-described framing: decodes the bus's bytes into its frames."""

    def __init__(
        self, config: DeviceConfig, context: DeviceContext, bus: SerialBus, framing: Framing
    ) -> None:
        super().__init__(config, context, bus)
        self._decoder = FrameDecoder(framing)
        self._bad_seen = 0

    def feed(self, data: bytes) -> None:
        """Decode bus bytes into frames of this framing."""
        self.frames(self._decoder.feed(data))
        self._count_bad_frames()

    def idle(self) -> None:
        """The line is quiet: a half-received frame will never complete."""
        if self._decoder.pending:
            self.frames(self._decoder.flush())
            self._count_bad_frames()

    def frames(self, frames: list[Frame]) -> None:
        """Handle decoded frames (of every address: the subclass keeps its own)."""
        raise NotImplementedError

    def _count_bad_frames(self) -> None:
        """Count frames of our framing that were broken (not other devices' traffic)."""
        decoder = self._decoder
        bad = decoder.errors - decoder.garbage_runs
        if bad > self._bad_seen:
            self.health.error(f"{bad - self._bad_seen} broken frame(s): {decoder.last_error}")
            self._bad_seen = bad


def _frame_bytes(frame: Frame) -> bytes:
    return bytes([frame.address & 0xFF, frame.command & 0xFF]) + frame.payload


class FramedLedDisplay(FramedDevice):
    """An LED window board speaking a data-described framing (GB2312/GBK text, blink, clear).

    During an emergency it shows the message instead, in pages of its width, turned by the hub;
    the window's state is kept meanwhile and shown again when the emergency ends.
    """

    def __init__(self, config: DeviceConfig, context: DeviceContext, bus: SerialBus) -> None:
        codec = config.profile.codec
        assert isinstance(codec, LedBoardCodec)
        super().__init__(config, context, bus, codec.framing)
        self.codec = codec
        self._last: bytes | None = None
        self.pages = MessagePages()  # the emergency's message, page by page

    def set_emergency(self, notice: EmergencyNotice | None) -> None:
        """Show the emergency's message from its first page, or the window's state again."""
        if not self.pages.show(notice, lambda page: led_board.fits(self.codec, page)):
            return
        self._last = None
        self.send_snapshot()

    def turn_page(self) -> None:
        """The emergency's next page (the first after the last)."""
        if self.pages.turn():
            self._show_page()

    def _show_page(self) -> None:
        frame = led_board.show(self.codec, self.address, self.pages.current or "")
        self._last = frame
        self.send(frame, self.pages.label())

    def send_snapshot(self) -> None:
        """The emergency's page, or what the window shows (no blink)."""
        if self.pages:
            self._show_page()
        else:
            super().send_snapshot()

    def frames(self, frames: list[Frame]) -> None:
        """LED boards answer nothing we need: a frame from this address is a sign of life."""
        for frame in frames:
            if frame.address == self.address:
                self.answered(_frame_bytes(frame))

    def draw(self, showing: WindowShowing, *, snapshot: bool) -> None:
        """Show the ticket (blinking when just called), the pause text, or nothing."""
        if self.pages:
            return  # the emergency has the board; `showing` is kept for after it
        profile = self.config.profile
        if showing.ticket is not None:
            text = profile.show_text.format(ticket=showing.ticket, window=showing.window)
            blink = showing.blink and not snapshot
            frame = led_board.show(self.codec, self.address, text, blink=blink)
            note = f"{'blink' if blink else 'show'} {text}"
        elif showing.status == "paused":
            frame = led_board.show(self.codec, self.address, profile.paused_text)
            note = f"show {profile.paused_text}"
        else:
            frame = led_board.clear(self.codec, self.address)
            note = "clear"
        if snapshot or frame != self._last or showing.blink:
            self._last = frame
            self.send(frame, note)

    def flash(self, text: str, seconds: float) -> TestFired:
        """A technician's test: `text` blinking for `seconds`, then the window's state again."""
        self.send(led_board.show(self.codec, self.address, text, blink=True), f"test: {text}")
        self.restore_after(seconds)
        return TestFired("flash", f'shows "{text}" for {seconds:g} s, then what it showed before')

    def restore(self) -> None:
        """What the window shows now (or the emergency's page), else a blank board."""
        if self.showing is not None or self.pages:
            self.send_snapshot()
        else:
            self._last = None
            self.send(led_board.clear(self.codec, self.address), "blank after the test")


class ModbusNumericDisplay(SerialDevice):
    """A Modbus RTU numeric display (LED-485 type): registers written with pymodbus framing."""

    def __init__(self, config: DeviceConfig, context: DeviceContext, bus: SerialBus) -> None:
        super().__init__(config, context, bus)
        assert isinstance(config.profile.codec, ModbusDisplaySettings)
        self.map = config.profile.codec.registers
        self._framer = FramerRTU(DecodePDU(False))
        self._buffer = b""
        self._last: dict[int, int] | None = None
        self.blank = False  # an emergency: digits cannot say it, and no number is called

    def set_emergency(self, notice: EmergencyNotice | None) -> None:
        """Blank during an emergency (its digits cannot show the message); then the window's
        state again."""
        if self.blank == (notice is not None):
            return
        self.blank = notice is not None
        self._last = None
        if self.showing is not None:
            self.send_snapshot()
        else:
            self._write(numeric_display.cleared(self.map), "blank")

    def feed(self, data: bytes) -> None:
        """Answers to our writes and pings count as signs of life."""
        self._buffer = (self._buffer + data)[-512:]
        while self._buffer:
            try:
                used, pdu = self._framer.handleFrame(self._buffer, self.address, 0)
            except ModbusException as exc:
                # A frame with a valid CRC that pymodbus cannot decode: drop it, count it.
                self.health.error(f"undecodable Modbus answer: {exc}")
                self._buffer = b""
                break
            if used == 0:
                break
            frame, self._buffer = self._buffer[:used], self._buffer[used:]
            if pdu is not None and pdu.dev_id == self.address:
                self.answered(frame)

    def draw(self, showing: WindowShowing, *, snapshot: bool) -> None:
        """Write the ticket's digits, the window number and the blink flag."""
        if showing.ticket is None or self.blank:
            values = numeric_display.cleared(self.map)
        else:
            window = int(showing.window) if showing.window.isdigit() else None
            values = numeric_display.registers(
                self.map, showing.ticket, window, showing.blink and not snapshot
            )
        if not snapshot and values == self._last and not showing.blink:
            return
        self._last = values
        self._write(values)

    def _write(self, values: dict[int, int], note: str | None = None) -> None:
        for start, run in _runs(values):
            pdu = WriteMultipleRegistersRequest(address=start, registers=run, dev_id=self.address)
            self.send(self._framer.buildFrame(pdu), note)

    def flash(self, text: str, seconds: float) -> TestFired:
        """A technician's test: every digit 8 (all segments lit), blinking, for `seconds`; then
        the window's state again. A numeric display cannot show `text`."""
        digits = "8" * self.map.digits
        window = 88 if self.map.window_register is not None else None
        self._write(numeric_display.registers(self.map, digits, window, True), "test: all 8s")
        self._last = None
        self.restore_after(seconds)
        return TestFired(
            "flash", f"shows {digits} (every segment) for {seconds:g} s, then what it showed before"
        )

    def restore(self) -> None:
        """What the window shows now, or a blank display for a display of no window."""
        self._last = None
        if self.showing is not None:
            self.send_snapshot()
        else:
            self._write(numeric_display.cleared(self.map), "blank after the test")

    def ping_frame(self) -> bytes | None:
        """Read the number register back."""
        pdu: ModbusPDU = ReadHoldingRegistersRequest(
            address=self.map.number_register, count=1, dev_id=self.address
        )
        return self._framer.buildFrame(pdu)


def _runs(values: dict[int, int]) -> list[tuple[int, list[int]]]:
    """Registers grouped into runs of consecutive addresses (one write each)."""
    runs: list[tuple[int, list[int]]] = []
    for register in sorted(values):
        if runs and runs[-1][0] + len(runs[-1][1]) == register:
            runs[-1][1].append(values[register])
        else:
            runs.append((register, [values[register]]))
    return runs


class FramedCallPad(FramedDevice):
    """A clerk's keypad (e.g. FF 68 ... 16 frames): keys in, text/lamp/beep feedback out."""

    def __init__(self, config: DeviceConfig, context: DeviceContext, bus: SerialBus) -> None:
        codec = config.profile.codec
        assert isinstance(codec, CallPadCodec)
        super().__init__(config, context, bus, codec.framing)
        self.codec = codec
        self._shown: tuple[str | None, str] | None = None

    def frames(self, frames: list[Frame]) -> None:
        """A key becomes an action at the pad's window; a pong only says the pad is there."""
        for frame in frames:
            if frame.address != self.address:
                continue
            item = callpad.parse(self.codec, frame)
            if item is None:
                continue
            self.answered(_frame_bytes(frame))
            if isinstance(item, callpad.PadKey) and self.config.window is not None:
                self.submit(KeyPressed(self.id, self.config.window, item.action))

    def feedback(self, result: InputResult) -> None:
        """Show the outcome on the pad's display, light its lamp, beep once (or thrice on error)."""
        if not self.config.profile.feedback:
            return
        self.send(callpad.text(self.codec, self.address, result.text))
        self.send(callpad.led(self.codec, self.address, result.serving))
        self.send(callpad.beep(self.codec, self.address, 1 if result.ok else 3))

    def draw(self, showing: WindowShowing, *, snapshot: bool) -> None:
        """The pad shows the window's ticket and lights its lamp while one is called or served."""
        shown = (showing.ticket, showing.status)
        if not snapshot and shown == self._shown:
            return  # e.g. a rating prompt: nothing the pad shows
        self._shown = shown
        self.send(callpad.text(self.codec, self.address, showing.ticket or ""))
        self.send(callpad.led(self.codec, self.address, showing.ticket is not None))

    def ping_frame(self) -> bytes | None:
        """The pad answers a ping with a pong."""
        return callpad.ping(self.codec, self.address)

    def light(self, text: str, seconds: float) -> TestFired:
        """A technician's test: lamp on, `text` on the display and one beep for `seconds`;
        then what the window shows."""
        self.send(callpad.text(self.codec, self.address, text), f"test: {text}")
        self.send(callpad.led(self.codec, self.address, True), "test: lamp on")
        self.send(callpad.beep(self.codec, self.address, 1), "test: beep")
        self._shown = None
        self.restore_after(seconds)
        return TestFired(
            "light", f'lamp on, "{text}" and one beep for {seconds:g} s, then what it showed before'
        )

    def restore(self) -> None:
        """The window's ticket and lamp, or a dark pad for a pad of no window."""
        if self.showing is not None:
            self.send_snapshot()
        else:
            self.send(callpad.text(self.codec, self.address, ""), "blank after the test")
            self.send(callpad.led(self.codec, self.address, False), "lamp off after the test")


class Rf433Receiver(SerialDevice):
    """A 433 MHz receiver for wireless pads: one press per held key, remotes bound to windows."""

    def __init__(self, config: DeviceConfig, context: DeviceContext, bus: SerialBus) -> None:
        super().__init__(config, context, bus)
        assert isinstance(config.profile.codec, Rf433Settings)
        self.settings = config.profile.codec
        self._decoder = Rf433Decoder()
        self._held = HeldKeyFilter(self.settings.release_after_s)
        self.bindings = RemoteBindings(dict(config.remotes))
        self.unbound = 0
        # Told about every remote learn mode binds, so the binding outlives a restart.
        self.on_bound: Callable[[Rf433Receiver], None] | None = None

    def feed(self, data: bytes) -> None:
        """Codes from remotes: a new press of a bound remote's key is that window's action."""
        before = self._decoder.errors
        now = asyncio.get_running_loop().time()
        for code in self._decoder.feed(data):
            self.answered(code.code.to_bytes(3, "big"))
            if not self._held.accept(code.code, now):
                continue
            remote, action = self.settings.layout.split(code.code)
            learning = self.bindings.learning
            window = self.bindings.window_for(remote)
            if learning is not None and window == learning and self.bindings.learning is None:
                log.info("remote_bound", device=self.id, remote=f"0x{remote:X}", window=window)
                if self.on_bound is not None:
                    self.on_bound(self)
                continue  # the press that taught the binding is not an action
            if window is None or action is None:
                self.unbound += 1
                log.info("remote_unknown", device=self.id, remote=f"0x{remote:X}")
                continue
            self.submit(KeyPressed(self.id, window, action))
        if self._decoder.errors > before:
            self.health.error(f"{self._decoder.errors - before} bad frame(s) from the receiver")


class FramedRatingPad(FramedDevice):
    """A 4- or 5-key rating pad: asks after service, takes one key, thanks the applicant."""

    def __init__(self, config: DeviceConfig, context: DeviceContext, bus: SerialBus) -> None:
        codec = config.profile.codec
        assert isinstance(codec, RatingPadCodec)
        super().__init__(config, context, bus, codec.framing)
        self.codec = codec
        self._asked: str | None = None  # the ticket the pad is asking about
        self._taken: str | None = None  # the ticket whose key was already taken

    def frames(self, frames: list[Frame]) -> None:
        """A key while asking becomes the rating; keys at any other time are ignored."""
        for frame in frames:
            if frame.address != self.address:
                continue
            item = rating_pad.parse(self.codec, frame)
            if item is None:
                continue
            self.answered(_frame_bytes(frame))
            if not isinstance(item, rating_pad.RatingKey) or self.config.window is None:
                continue
            if self._asked is None or self._taken == self._asked:
                log.info("rating_key_ignored", device=self.id, score=item.score)
                continue
            self._taken = self._asked
            self.submit(RatingGiven(self.id, self.config.window, item.score))

    def draw(self, showing: WindowShowing, *, snapshot: bool) -> None:
        """Light the pad to ask for a rating; thank the applicant once the rating is in."""
        asking = showing.rating_ticket if showing.rating == "asking" else None
        if asking is not None and (asking != self._asked or snapshot):
            self.send(rating_pad.ask(self.codec, self.address))
        elif asking is None and (self._asked is not None or snapshot):
            rated = self._asked is not None and self._taken == self._asked
            if rated:
                self.send(rating_pad.thanks(self.codec, self.address))
            else:
                self.send(rating_pad.idle(self.codec, self.address))
        self._asked = asking

    def ping_frame(self) -> bytes | None:
        """The pad answers a ping with a pong."""
        return rating_pad.ping(self.codec, self.address)
