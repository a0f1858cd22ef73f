"""Reconnection: capped exponential backoff with jitter, and a device's return cutting it short."""

from __future__ import annotations

import asyncio
import random

import pytest

from hall_controller.devices.errors import DeviceLost
from hall_controller.devices.health import DeviceState
from hall_controller.devices.supervisor import Supervisor
from hall_controller.transports.backoff import Backoff

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


def test_backoff_doubles_from_5_to_80_seconds_with_jitter_and_resets() -> None:
    backoff = Backoff(rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(8)]
    for delay, base in zip(delays, [5, 10, 20, 40, 80, 80, 80, 80], strict=True):
        assert base * 0.8 <= delay <= min(80, base * 1.2)
    assert len({round(d, 6) for d in delays[4:]}) > 1  # jitter: links do not retry in step
    backoff.reset()
    assert 4.0 <= backoff.next_delay() <= 6.0


def test_backoff_never_exceeds_its_cap() -> None:
    backoff = Backoff(rng=random.Random(1))
    assert max(backoff.next_delay() for _ in range(100)) <= 80.0


class FlakyLink:
    """A link that fails to connect while `plugged` is False; serve() ends when it is pulled."""

    name = "flaky"

    def __init__(self) -> None:
        self.plugged = False
        self.present_now = False
        self.connects = 0
        self.pulled = asyncio.Event()

    async def connect(self) -> None:
        self.connects += 1
        if not self.plugged:
            raise DeviceLost("no such port")
        self.pulled.clear()

    async def serve(self) -> None:
        await self.pulled.wait()
        raise DeviceLost("unplugged")

    async def disconnect(self) -> None:
        pass

    def present(self) -> bool:
        return self.present_now


async def wait_for(condition: object, within_s: float = 2.0) -> None:
    assert callable(condition)
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110 - polling the supervisor's observable state
            await asyncio.sleep(0.005)


async def test_a_lost_link_waits_its_backoff_and_a_wake_reconnects_at_once() -> None:
    link = FlakyLink()
    states: list[DeviceState] = []
    supervisor = Supervisor(
        link, lambda state, _why: states.append(state), backoff=Backoff(initial_s=30.0)
    )
    supervisor.start()
    try:
        await wait_for(lambda: DeviceState.LOST in states)
        assert supervisor.next_attempt_in is not None
        assert supervisor.next_attempt_in >= 24.0  # 30 s less the jitter: it would wait
        link.plugged = True
        supervisor.wake()  # e.g. the device said it is back
        await wait_for(lambda: states[-1] is DeviceState.READY, within_s=1.0)
        assert link.connects == 2
    finally:
        await supervisor.stop()


async def test_a_port_that_reappears_ends_the_wait() -> None:
    link = FlakyLink()
    states: list[DeviceState] = []
    supervisor = Supervisor(
        link,
        lambda state, _why: states.append(state),
        backoff=Backoff(initial_s=30.0),
        presence_poll_s=0.02,
    )
    supervisor.start()
    try:
        await wait_for(lambda: DeviceState.LOST in states)
        link.plugged = link.present_now = True  # the USB adapter is plugged back in
        await wait_for(lambda: states[-1] is DeviceState.READY, within_s=1.0)
        link.pulled.set()  # and pulled again: lost, then back once it reappears
        link.plugged = link.present_now = False
        await wait_for(lambda: states[-1] is DeviceState.LOST)
        link.plugged = link.present_now = True
        await wait_for(lambda: states[-1] is DeviceState.READY, within_s=1.0)
        assert supervisor.reconnects == 1
    finally:
        await supervisor.stop()


async def test_a_bug_in_a_link_does_not_end_supervision() -> None:
    class Buggy(FlakyLink):
        async def connect(self) -> None:
            self.connects += 1
            if self.connects == 1:
                raise RuntimeError("driver bug")

    link = Buggy()
    states: list[tuple[DeviceState, str | None]] = []
    supervisor = Supervisor(
        link, lambda state, why: states.append((state, why)), backoff=Backoff(initial_s=0.01)
    )
    supervisor.start()
    try:
        await wait_for(lambda: states and states[-1][0] is DeviceState.READY)
        assert (DeviceState.LOST, "RuntimeError: driver bug") in states
    finally:
        await supervisor.stop()
