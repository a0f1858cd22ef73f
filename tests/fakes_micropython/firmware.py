"""The ESP32 call pad's files imported flat, as on the device, over the MicroPython fakes.

`machine`, `network`, `utime`, `umqtt.simple` and `ssd1306` are stand-ins from this package;
`utime` is one shared FakeClock (CLOCK) and MQTTClient talks to FakeMQTTClient.default_broker.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

from fakes_micropython import FakeClock, FakeMQTTClient, FakePin

FIRMWARE_DIR = Path(__file__).resolve().parents[2] / "firmware_bridges" / "esp32_callpad"
CLOCK = FakeClock()
PINS: dict[int, FakePin] = {}


class MachinePin(FakePin):
    """machine.Pin: every pin made is kept in PINS by its number, so tests can press keys."""

    def __init__(self, number: int, mode: int = -1, pull: int | None = None) -> None:
        super().__init__(number, mode, pull)
        PINS[number] = self


class _I2C:
    def __init__(self, scl: FakePin, sda: FakePin) -> None:
        self.scl, self.sda = scl, sda


class _Watchdog:
    fed = 0

    def __init__(self, timeout: int) -> None:
        self.timeout = timeout

    def feed(self) -> None:
        _Watchdog.fed += 1


class _Wlan:
    def __init__(self, interface: int) -> None:
        self.joined = False
        self.activated = False

    def active(self, on: bool) -> None:
        self.activated = on

    def connect(self, ssid: str, password: str) -> None:
        self.joined = True

    def isconnected(self) -> bool:
        return self.joined


class Oled:
    """ssd1306.SSD1306_I2C: keeps the lines drawn since the last fill."""

    last: Oled | None = None

    def __init__(self, width: int, height: int, i2c: _I2C) -> None:
        self.width, self.height = width, height
        self.lines: dict[int, str] = {}
        self.shown: dict[int, str] = {}
        Oled.last = self

    def fill(self, colour: int) -> None:
        self.lines = {}

    def text(self, text: str, x: int, y: int) -> None:
        self.lines[y] = text

    def show(self) -> None:
        self.shown = dict(self.lines)


def _module(name: str, **attributes: object) -> types.ModuleType:
    module = types.ModuleType(name)
    for key, value in attributes.items():
        setattr(module, key, value)
    return module


def _install() -> None:
    fakes = {
        "machine": _module(
            "machine", Pin=MachinePin, SoftI2C=_I2C, WDT=_Watchdog, reset=lambda: None
        ),
        "network": _module("network", WLAN=_Wlan, STA_IF=0),
        "utime": _module(
            "utime",
            ticks_ms=CLOCK.ticks_ms,
            ticks_add=CLOCK.ticks_add,
            ticks_diff=CLOCK.ticks_diff,
            sleep_ms=CLOCK.sleep_ms,
        ),
        "umqtt": _module("umqtt"),
        "umqtt.simple": _module("umqtt.simple", MQTTClient=FakeMQTTClient),
        "ssd1306": _module("ssd1306", SSD1306_I2C=Oled),
    }
    for name, module in fakes.items():
        sys.modules.setdefault(name, module)
    if str(FIRMWARE_DIR) not in sys.path:
        sys.path.insert(0, str(FIRMWARE_DIR))


_install()

import callpad  # noqa: E402
import main  # noqa: E402
import messages  # noqa: E402

__all__ = ["CLOCK", "PINS", "MachinePin", "Oled", "callpad", "main", "messages"]
