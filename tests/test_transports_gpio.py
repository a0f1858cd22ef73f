"""GPIO buttons and lamps on gpiozero's mock pins."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from hall_controller.transports.errors import LinkDown
from hall_controller.transports.gpio import GpioButton, GpioLamp

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


@pytest.fixture
def pins() -> Iterator[MockFactory]:
    """A fresh mock pin factory; after the test, every pin is released and the factory reset."""
    saved = Device.pin_factory
    factory = MockFactory()
    Device.pin_factory = factory
    yield factory
    factory.reset()
    factory.close()
    Device.pin_factory = saved


async def test_a_press_driven_from_another_thread_runs_on_press_on_the_loop_thread(
    pins: MockFactory,
) -> None:
    loop = asyncio.get_running_loop()
    pressed: asyncio.Queue[int] = asyncio.Queue()
    button = GpioButton(17, on_press=lambda: pressed.put_nowait(threading.get_ident()), loop=loop)
    try:
        pin = pins.pin(17)
        assert pin.state  # pulled up: not pressed
        await asyncio.to_thread(pin.drive_low)  # the button shorts the pin to ground
        assert await asyncio.wait_for(pressed.get(), timeout=1.0) == threading.get_ident()
        assert button.is_pressed
        await asyncio.to_thread(pin.drive_high)
        await asyncio.sleep(0.05)
        assert pressed.empty()  # a release is not a press
        assert not button.is_pressed
    finally:
        button.close()


async def test_each_press_is_reported_once(pins: MockFactory) -> None:
    presses: list[float] = []
    button = GpioButton(
        "GPIO22", on_press=lambda: presses.append(time.monotonic()), loop=asyncio.get_running_loop()
    )
    try:
        pin = pins.pin(22)
        for _ in range(3):
            pin.drive_low()
            pin.drive_high()
        await asyncio.sleep(0.05)
        assert len(presses) == 3
    finally:
        button.close()


async def test_the_bounce_time_is_set_on_the_pin(pins: MockFactory) -> None:
    button = GpioButton(5, on_press=lambda: None, loop=asyncio.get_running_loop(), bounce_s=0.08)
    try:
        assert pins.pin(5).bounce == pytest.approx(0.08)
        assert pins.pin(5).pull == "up"
    finally:
        button.close()


async def test_after_close_presses_are_not_reported_and_the_pin_is_free(
    pins: MockFactory,
) -> None:
    presses: list[None] = []
    loop = asyncio.get_running_loop()
    button = GpioButton(6, on_press=lambda: presses.append(None), loop=loop)
    pins.pin(6).drive_low()  # posted, not yet run ...
    button.close()  # ... and dropped by the close
    button.close()
    await asyncio.sleep(0.01)
    assert presses == []
    again = GpioButton(6, on_press=lambda: presses.append(None), loop=loop)
    again.close()


async def test_a_pin_in_use_is_link_down_naming_the_pin(pins: MockFactory) -> None:
    loop = asyncio.get_running_loop()
    lamp = GpioLamp(27)
    try:
        with pytest.raises(LinkDown, match="gpio 27"):
            GpioButton(27, on_press=lambda: None, loop=loop)
    finally:
        lamp.close()


def test_lamp_on_off(pins: MockFactory) -> None:
    lamp = GpioLamp(23)
    pin = pins.pin(23)
    try:
        assert not pin.state
        lamp.on()
        assert pin.state
        assert lamp.is_lit
        lamp.off()
        assert not pin.state
        assert not lamp.is_lit
    finally:
        lamp.close()


def test_lamp_blinks_until_told_otherwise(pins: MockFactory) -> None:
    lamp = GpioLamp(24)
    pin = pins.pin(24)
    try:
        pin.clear_states()
        lamp.blink(0.02, 0.02)
        give_up = time.monotonic() + 2.0
        while len(pin.states) < 5 and time.monotonic() < give_up:
            time.sleep(0.01)
        lamp.on()
        changes = [state.state for state in pin.states]
        assert changes[:5] == [False, True, False, True, False]
        assert pin.state
        time.sleep(0.06)
        assert pin.state  # blinking stopped: it stays lit
    finally:
        lamp.close()


def test_closing_a_blinking_lamp_puts_it_out_and_frees_the_pin(pins: MockFactory) -> None:
    lamp = GpioLamp(25)
    lamp.blink(0.01, 0.01)
    time.sleep(0.03)
    lamp.close()
    lamp.close()
    assert not pins.pin(25).state
    assert not lamp.is_lit
    with pytest.raises(LinkDown, match="gpio 25"):
        lamp.on()
    GpioLamp(25).close()
