"""GPIO call buttons and lamps (gpiozero); button presses are posted into the asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import gpiozero

from .errors import LinkDown

Pin = int | str  # 17, "GPIO17", "BOARD11", ...

# gpiozero reports a missing, invalid or busy pin (and no usable pin library) this way.
_GPIO_ERRORS = (gpiozero.GPIOZeroError, OSError)


class GpioButton:
    """A push button to ground (internal pull-up); on_press runs on the loop's thread."""

    def __init__(
        self,
        pin: Pin,
        *,
        on_press: Callable[[], None],
        loop: asyncio.AbstractEventLoop,
        bounce_s: float | None = 0.05,
    ) -> None:
        self.name = f"gpio {pin}"
        self._on_press = on_press
        self._loop = loop
        self._closed = False
        try:
            self._button = gpiozero.Button(pin, pull_up=True, bounce_time=bounce_s)
        except _GPIO_ERRORS as exc:
            raise LinkDown(f"{self.name}: cannot use the pin ({exc})") from exc
        self._button.when_pressed = self._pressed

    def _pressed(self) -> None:
        # gpiozero calls this on the thread that saw the edge.
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to tell
            self._loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        if not self._closed:
            self._on_press()

    @property
    def is_pressed(self) -> bool:
        """True while the button is held down."""
        return not self._closed and bool(self._button.is_pressed)

    def close(self) -> None:
        """Release the pin; presses on their way are dropped. Calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        self._button.when_pressed = None
        self._button.close()


class GpioLamp:
    """A lamp or LED on an output pin (active high)."""

    def __init__(self, pin: Pin) -> None:
        self.name = f"gpio {pin}"
        try:
            self._led = gpiozero.LED(pin)
        except _GPIO_ERRORS as exc:
            raise LinkDown(f"{self.name}: cannot use the pin ({exc})") from exc

    def on(self) -> None:
        """Light it (stops blinking)."""
        self._do(self._led.on)

    def off(self) -> None:
        """Put it out (stops blinking)."""
        self._do(self._led.off)

    def blink(self, on_s: float, off_s: float) -> None:
        """Blink until on() or off(), on gpiozero's own background thread."""
        self._do(lambda: self._led.blink(on_time=on_s, off_time=off_s, background=True))

    @property
    def is_lit(self) -> bool:
        """True while the pin drives the lamp."""
        return not self._led.closed and bool(self._led.is_lit)

    def _do(self, action: Callable[[], object]) -> None:
        try:
            action()
        except _GPIO_ERRORS as exc:
            raise LinkDown(f"{self.name}: {exc}") from exc

    def close(self) -> None:
        """Stop blinking, put the lamp out and release the pin; calling it again does nothing."""
        if not self._led.closed:
            with contextlib.suppress(*_GPIO_ERRORS):
                self._led.off()
        self._led.close()
