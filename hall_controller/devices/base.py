"""The parts every device adapter shares: its config, health, and the hub's callbacks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import structlog

from hall_controller.devices.errors import DeviceError
from hall_controller.devices.health import DeviceHealth, DeviceState
from hall_controller.devices.model import (
    DeviceInput,
    EmergencyNotice,
    InputResult,
    WindowShowing,
)
from hall_controller.devices.supervisor import Supervisor
from hall_controller.profiles import DeviceConfig

log = structlog.get_logger("hall_controller.devices")

# What a display shows while a technician tests it, and for how long before it shows the
# window's state again.
TEST_TEXT = "测试 TEST"
TEST_SHOW_S = 3.0


class NoTestFire(DeviceError):
    """The device's model has nothing to test-fire (a card reader, a pad without a lamp)."""


@dataclass(frozen=True, slots=True)
class TestFired:
    """What a technician's test-fire did, in the words shown on the console."""

    action: str  # "print", "flash", "speak" or "light"
    done: str  # e.g. 'shows "测试 TEST" for 3 s, then what it showed before'


@dataclass(frozen=True, slots=True)
class DeviceContext:
    """What the hub lends each adapter."""

    clock: Callable[[], float]  # wall-clock seconds, for health
    submit: Callable[[DeviceInput, Device], None]  # a key or rating, handled by the hub
    state_changed: Callable[[Device], None]  # health state moved (publish $state, log)


def describe_where(config: DeviceConfig) -> str:
    """Where a technician finds the device: port and bus address, pins, or MQTT."""
    profile = config.profile
    if profile.transport == "serial":
        return f"{config.port} @{config.address}"
    if profile.transport == "gpio":
        return "gpio " + ", ".join(f"{name}={pin}" for name, pin in config.pins.items())
    if profile.transport == "mqtt":
        return f"mqtt device/{config.id}"
    return config.port or profile.transport


class Device:
    """Base of every adapter: keeps the window's latest showing and the device's health."""

    def __init__(self, config: DeviceConfig, context: DeviceContext) -> None:
        self.config = config
        self.context = context
        self.health = DeviceHealth(
            device_id=config.id,
            kind=config.profile.kind,
            profile=config.profile.id,
            driver=config.profile.driver,
            window=config.window,
            where=describe_where(config),
            since=context.clock(),
            clock=context.clock,
        )
        self.showing: WindowShowing | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def id(self) -> str:
        """The device id from the hall config."""
        return self.config.id

    @property
    def ready(self) -> bool:
        """Whether the device is reachable now."""
        return self.health.state in (DeviceState.READY, DeviceState.ALERT)

    def set_state(self, state: DeviceState, reason: str | None = None) -> None:
        """Record a state change and tell the hub (which logs it and publishes `$state`)."""
        if self.health.set_state(state, self.context.clock(), reason):
            if state is DeviceState.LOST:
                log.warning("device_lost", device=self.id, reason=reason)
            else:
                log.info("device_state", device=self.id, state=state.value)
            self.context.state_changed(self)

    def render(self, showing: WindowShowing) -> None:
        """Show the window's new state (displays, pad lamps, rating prompts)."""
        self.showing = showing

    def feedback(self, result: InputResult) -> None:
        """Tell the pad what became of its key (text, lamp, beep); only pads override this."""

    def set_emergency(self, notice: EmergencyNotice | None) -> None:
        """The hall's emergency was declared (`notice`) or ended (None): window displays show
        its message instead of the window's state and announcers repeat it; others ignore it."""

    def turn_page(self) -> None:
        """Show the next page of the emergency's message (displays narrower than it)."""

    def submit(self, item: DeviceInput) -> None:
        """Hand a key or rating to the hub."""
        self.context.submit(item, self)

    async def start(self) -> None:
        """Begin talking to the device (its link or supervisor)."""

    async def stop(self) -> None:
        """Stop every task of this device."""
        # A copy: each task's done callback discards it from the set it was spawned into.
        tasks = list(self._tasks)
        self._tasks = set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run a named task owned by this device, cancelled by stop() (or earlier by its owner)."""
        task: asyncio.Task[None] = asyncio.create_task(coro, name=f"{name}:{self.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


class SupervisedDevice(Device):
    """A device with a link of its own, kept up by its supervisor from start() to stop()."""

    supervisor: Supervisor

    def _on_link(self, state: DeviceState, reason: str | None) -> None:
        """The supervisor's link state is the device's; a return after frames is a reconnect."""
        if state is DeviceState.READY and self.health.frames_in:
            self.health.reconnects += 1
        self.set_state(state, reason)

    async def start(self) -> None:
        """Start the supervisor (it opens the link and keeps it up)."""
        self.supervisor.start()

    async def stop(self) -> None:
        """Stop the supervisor (closing the link), then every task of the device."""
        await self.supervisor.stop()
        await super().stop()
