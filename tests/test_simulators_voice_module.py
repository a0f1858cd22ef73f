"""The simulated voice module: answers as a SYN6288 does, speaks for a while, can go silent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hall_controller.protocols import voice_module
from hall_controller.protocols.voice_module import Answer, VoiceModuleCodec
from hall_controller.simulators.voice_module import SimulatedVoiceModule, VoiceModulePeer
from hall_controller.transports.errors import LinkTimeout
from hall_controller.transports.pty import PtyPair
from hall_controller.transports.serial import SerialLink

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

CODEC = VoiceModuleCodec()
STATUS = voice_module.status_query(CODEC)


def test_the_peer_is_busy_for_a_time_proportional_to_the_text() -> None:
    peer = VoiceModulePeer(CODEC, seconds_per_character=0.25)
    assert peer.feed(voice_module.synthesize(CODEC, "[v8]请A012号"), at=10.0) == b"\x41"
    assert peer.feed(STATUS, at=11.4) == b"\x4e"  # 6 characters: busy until 11.5
    assert peer.feed(STATUS, at=11.5) == b"\x4f"
    assert peer.texts == ["请A012号"]
    assert peer.spoken[0].text == "[v8]请A012号"
    assert peer.cut_off == 0


def test_a_text_sent_while_the_module_speaks_cuts_the_first_one_off() -> None:
    peer = VoiceModulePeer(CODEC, seconds_per_character=1.0)
    peer.feed(voice_module.synthesize(CODEC, "请A012号"), at=0.0)
    peer.feed(voice_module.synthesize(CODEC, "请A013号"), at=1.0)
    assert peer.cut_off == 1
    assert peer.spoken[0].cut_off
    assert peer.spoken[0].until == 1.0
    assert not peer.spoken[1].cut_off


def test_a_bad_frame_is_refused_and_a_silent_module_answers_nothing() -> None:
    peer = VoiceModulePeer(CODEC)
    frame = voice_module.synthesize(CODEC, "你好")
    assert peer.feed(frame[:-1] + b"\x00", at=0.0) == b"\x45"
    assert peer.bad_frames == 1
    peer.silent = True
    assert peer.feed(frame, at=1.0) == b""
    assert peer.feed(STATUS, at=1.0) == b""
    assert peer.texts == []


@pytest.fixture
async def module_on_pty(tmp_path: Path) -> AsyncIterator[tuple[SimulatedVoiceModule, SerialLink]]:
    pair = PtyPair(tmp_path / "voice", name="voice").open()
    module = SimulatedVoiceModule(pair.link, CODEC, seconds_per_character=0.05)
    await module.start()
    port = SerialLink(str(pair.link_path))
    await port.open(2.0)
    try:
        yield module, port
    finally:
        await port.close()
        await module.stop()
        pair.close()


async def read_answers(port: SerialLink, count: int) -> list[Answer]:
    found: list[Answer] = []
    async with asyncio.timeout(5.0):
        while len(found) < count:
            answers, _ = voice_module.answers(await port.read(5.0))
            found += answers
    return found


async def test_over_a_pty_the_module_acknowledges_then_says_idle_by_itself(
    module_on_pty: tuple[SimulatedVoiceModule, SerialLink],
) -> None:
    module, port = module_on_pty
    await port.write(voice_module.synthesize(CODEC, "请A012号到3号窗口办理"), 1.0)
    assert await read_answers(port, 1) == [Answer.RECEIVED]
    await port.write(STATUS, 1.0)
    assert await read_answers(port, 1) == [Answer.BUSY]
    # It finishes (12 characters x 0.05 s) and tells so without being asked.
    assert await read_answers(port, 1) == [Answer.IDLE]
    assert module.peer.texts == ["请A012号到3号窗口办理"]


async def test_over_a_pty_a_silent_module_answers_nothing(
    module_on_pty: tuple[SimulatedVoiceModule, SerialLink],
) -> None:
    module, port = module_on_pty
    module.silent = True
    await port.write(STATUS, 1.0)
    with pytest.raises(LinkTimeout):
        await port.read(0.3)
    module.silent = False
    await port.write(STATUS, 1.0)
    assert await read_answers(port, 1) == [Answer.IDLE]
