"""A stand-in for evdev.InputDevice: this machine has no uinput to make a real keyboard."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from typing import ClassVar

import pytest
from evdev import InputEvent


class FakeInputDevice:
    """Stands in for evdev.InputDevice: events are queued and signalled through a pipe."""

    made: ClassVar[list[FakeInputDevice]] = []
    grab_error: ClassVar[OSError | None] = None

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd, self._signal = os.pipe()
        os.set_blocking(self.fd, False)
        self.grabbed = False
        self.closed = False
        self._events: list[InputEvent] = []
        self._read_error: OSError | None = None
        FakeInputDevice.made.append(self)

    def grab(self) -> None:
        if FakeInputDevice.grab_error is not None:
            raise FakeInputDevice.grab_error
        self.grabbed = True

    def ungrab(self) -> None:
        self.grabbed = False

    def read(self) -> Iterator[InputEvent]:
        os.read(self.fd, 4096)  # BlockingIOError when nothing came, as evdev's read
        if self._read_error is not None:
            raise self._read_error
        events, self._events = self._events, []
        return iter(events)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)
            os.close(self._signal)

    # what the test does to the "keyboard"

    def type(self, *events: tuple[int, int, int]) -> None:
        self._events.extend(InputEvent(0, 0, *event) for event in events)
        os.write(self._signal, b"!")

    def unplug(self) -> None:
        self._read_error = OSError(errno.ENODEV, "No such device")
        os.write(self._signal, b"!")


@pytest.fixture
def fake_evdev(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeInputDevice]]:
    FakeInputDevice.made = []
    FakeInputDevice.grab_error = None
    monkeypatch.setattr("evdev.InputDevice", FakeInputDevice)
    yield FakeInputDevice
    for device in FakeInputDevice.made:
        device.close()
