"""Keeps one link to devices alive: connect, serve, and on loss wait (capped backoff) and retry."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol

import structlog

from hall_controller.devices.errors import DeviceError
from hall_controller.devices.health import DeviceState
from hall_controller.transports.backoff import Backoff

log = structlog.get_logger("hall_controller.devices")


class Supervised(Protocol):
    """A link the supervisor keeps up: a serial bus, a keyboard pad, a HID pad, GPIO pins."""

    name: str

    async def connect(self) -> None:
        """Open the link (bounded by its own timeout); raise DeviceError when it cannot."""
        ...

    async def serve(self) -> None:
        """Carry traffic until the link fails: raise DeviceError (or return) then."""
        ...

    async def disconnect(self) -> None:
        """Close whatever connect() opened; never raises."""
        ...

    def present(self) -> bool:
        """Whether the device's port is there now (a re-appearing port means it is back)."""
        ...


StateListener = Callable[[DeviceState, str | None], None]


class Supervisor:
    """Runs connect/serve in a loop with capped exponential backoff; `wake()` retries at once."""

    def __init__(
        self,
        target: Supervised,
        on_state: StateListener,
        *,
        backoff: Backoff | None = None,
        presence_poll_s: float = 0.25,
    ) -> None:
        self.target = target
        self._on_state = on_state
        self.backoff = backoff if backoff is not None else Backoff()
        self._presence_poll_s = presence_poll_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.reconnects = 0
        self.next_attempt_in: float | None = None

    def start(self) -> None:
        """Begin connecting in a task of its own."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"supervise:{self.target.name}")

    def wake(self) -> None:
        """The device announced its return: stop waiting and reconnect now."""
        self._wake.set()

    async def stop(self) -> None:
        """Cancel the loop and close the link."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        connected_before = False
        try:
            while True:
                self._on_state(DeviceState.CONNECTING, None)
                self._wake.clear()
                try:
                    await self.target.connect()
                except DeviceError as exc:
                    await self._lost(str(exc))
                    continue
                except Exception as exc:
                    # A bug must not end supervision: the device would never come back.
                    log.exception("device_connect_failed", link=self.target.name)
                    await self._lost(f"{type(exc).__name__}: {exc}")
                    continue
                self.backoff.reset()
                if connected_before:
                    self.reconnects += 1
                connected_before = True
                log.info("device_link_up", link=self.target.name, reconnects=self.reconnects)
                self._on_state(DeviceState.READY, None)
                reason = "the link closed"
                try:
                    await self.target.serve()
                except DeviceError as exc:
                    reason = str(exc)
                except Exception as exc:
                    log.exception("device_link_failed", link=self.target.name)
                    reason = f"{type(exc).__name__}: {exc}"
                finally:
                    await self.target.disconnect()
                await self._lost(reason)
        finally:
            self.next_attempt_in = None

    async def _lost(self, reason: str) -> None:
        delay = self.backoff.next_delay()
        self.next_attempt_in = delay
        log.warning("device_link_lost", link=self.target.name, reason=reason, retry_in_s=delay)
        self._on_state(DeviceState.LOST, reason)
        await self._wait(delay)

    async def _wait(self, delay: float) -> None:
        """Sleep `delay`, cut short by wake() or by the port coming back after it was gone."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        was_absent = not self.target.present()
        while (left := deadline - loop.time()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(left, self._presence_poll_s))
            if self._wake.is_set():
                return
            present = self.target.present()
            if was_absent and present:
                log.info("device_port_back", link=self.target.name)
                return
            was_absent = was_absent or not present
