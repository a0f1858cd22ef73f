"""Call pads wired to the edge box itself: GPIO buttons, keyboard-like pads, USB HID pads."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from hall_controller.devices.base import (
    Device,
    DeviceContext,
    NoTestFire,
    SupervisedDevice,
    TestFired,
)
from hall_controller.devices.errors import DeviceLost
from hall_controller.devices.health import DeviceState
from hall_controller.devices.model import KeyPressed, WindowShowing
from hall_controller.devices.supervisor import Supervisor
from hall_controller.profiles import (
    DeviceConfig,
    GpioPadSettings,
    HidPadSettings,
    KeyboardPadSettings,
)
from hall_controller.transports.errors import LinkTimeout, TransportError
from hall_controller.transports.gpio import GpioButton, GpioLamp
from hall_controller.transports.keys import EvdevKeys, HidKeys

_WATCH_S = 60.0


class GpioCallPad(Device):
    """Buttons and a "calling" lamp on the Raspberry Pi's pins."""

    def __init__(self, config: DeviceConfig, context: DeviceContext) -> None:
        super().__init__(config, context)
        assert isinstance(config.profile.codec, GpioPadSettings)
        self.settings = config.profile.codec
        self._buttons: list[GpioButton] = []
        self._lamp: GpioLamp | None = None

    async def start(self) -> None:
        """Claim the pins; a pin that cannot be claimed leaves the pad lost, with the reason."""
        loop = asyncio.get_running_loop()
        try:
            for name, pin in self.config.pins.items():
                if name == "lamp":
                    self._lamp = GpioLamp(pin)
                    continue
                self._buttons.append(
                    GpioButton(
                        pin,
                        on_press=functools.partial(self._pressed, self.settings.buttons[name]),
                        loop=loop,
                        bounce_s=self.settings.bounce_s,
                    )
                )
        except TransportError as exc:
            self._release()
            self.set_state(DeviceState.LOST, str(exc))
            return
        self.set_state(DeviceState.READY)
        if self.showing is not None:
            self.render(self.showing)

    def _pressed(self, action: str) -> None:
        self.health.seen(self.context.clock(), f"button {action}")
        if self.config.window is not None:
            self.submit(KeyPressed(self.id, self.config.window, action))

    def render(self, showing: WindowShowing) -> None:
        """The lamp blinks while a ticket is called and stays lit while it is served."""
        super().render(showing)
        lamp = self._lamp
        if lamp is None:
            return
        if showing.status == "calling":
            lamp.blink(0.5, 0.5)
            self.health.sent("lamp blink")
        elif showing.status == "serving":
            lamp.on()
            self.health.sent("lamp on")
        else:
            lamp.off()
            self.health.sent("lamp off")

    def light(self, text: str, seconds: float) -> TestFired:
        """A technician's test: the lamp on for `seconds`, then as the window's state says.
        NoTestFire when no lamp is wired (`text`: these pads have no display)."""
        lamp = self._lamp
        if lamp is None:
            raise NoTestFire(f'{self.id}: no lamp is wired to this pad (no "lamp" pin)')
        lamp.on()
        self.health.sent("lamp on", "test")
        self.spawn(self._restore_later(seconds), "test-restore")
        return TestFired("light", f"lamp on for {seconds:g} s, then as before")

    async def _restore_later(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if self.showing is not None:
            self.render(self.showing)
        elif self._lamp is not None:
            self._lamp.off()
            self.health.sent("lamp off", "after the test")

    def _release(self) -> None:
        for button in self._buttons:
            button.close()
        self._buttons.clear()
        if self._lamp is not None:
            self._lamp.close()
            self._lamp = None

    async def stop(self) -> None:
        """Release the pins."""
        await super().stop()
        self._release()


class KeyLink:
    """Supervised wrapper of a keyboard-like device (pad, scanner) or HID pad: open, watch,
    close."""

    def __init__(self, name: str, link: EvdevKeys | HidKeys, path: str | None, open_s: float):
        self.name = name
        self._link = link
        self._path = path
        self._open_s = open_s

    async def connect(self) -> None:
        try:
            await self._link.open(self._open_s)
        except TransportError as exc:
            raise DeviceLost(str(exc)) from exc

    async def serve(self) -> None:
        while True:
            try:
                await self._link.wait_down(_WATCH_S)
            except LinkTimeout:
                continue  # still plugged in
            except TransportError as exc:
                raise DeviceLost(str(exc)) from exc

    async def disconnect(self) -> None:
        await self._link.close()

    def present(self) -> bool:
        # An input device's node (udev's by-id link) or, for a HID pad, its ids on the USB bus.
        if isinstance(self._link, HidKeys):
            return self._link.present()
        return self._path is None or Path(self._path).exists()


class _SupervisedPad(SupervisedDevice):
    """A pad with a link of its own, kept up by a supervisor."""

    def key(self, action: str | None, raw: str) -> None:
        self.health.seen(self.context.clock(), raw)
        if action is not None and self.config.window is not None:
            self.submit(KeyPressed(self.id, self.config.window, action))


class KeyboardCallPad(_SupervisedPad):
    """A pad that types as a keyboard, grabbed exclusively so its keys reach nobody else."""

    def __init__(self, config: DeviceConfig, context: DeviceContext) -> None:
        super().__init__(config, context)
        assert isinstance(config.profile.codec, KeyboardPadSettings)
        keys = config.profile.codec.keys
        assert config.port is not None
        link = EvdevKeys(config.port, on_key=lambda name: self.key(keys.get(name), name))
        target = KeyLink(config.id, link, config.port, config.profile.timeouts.open_s)
        self.supervisor = Supervisor(target, self._on_link)


class HidCallPad(_SupervisedPad):
    """A USB HID pad read with pyusb: one report byte carries the key."""

    def __init__(self, config: DeviceConfig, context: DeviceContext) -> None:
        super().__init__(config, context)
        assert isinstance(config.profile.codec, HidPadSettings)
        settings = config.profile.codec

        def report(data: bytes) -> None:
            if len(data) > settings.key_byte and data[settings.key_byte]:
                code = data[settings.key_byte]
                self.key(settings.keys.get(code), data.hex(" "))

        link = HidKeys(settings.vendor_id, settings.product_id, on_report=report)
        target = KeyLink(config.id, link, None, config.profile.timeouts.open_s)
        self.supervisor = Supervisor(target, self._on_link)
