"""A simulated serial speech module (SYN6288, XFS5152): the real FD frames and one-byte answers.

`VoiceModulePeer` does no I/O and reads no clock (the bus passes the time bytes arrive): it
decodes the controller's frames, answers 41 / 45 / 4E / 4F, "speaks" each text for a time
proportional to its length and records it, noting any text cut off by the next one (what the
controller must never cause). It can go silent: it then hears and answers nothing.
`SimulatedVoiceModule` puts it on a port (a PTY master or a memory link) and sends the 4F a
real module sends by itself when it has finished speaking.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from hall_controller.protocols import voice_module
from hall_controller.protocols.voice_module import (
    Answer,
    BadFrame,
    CommandDecoder,
    Control,
    Synthesize,
    VoiceModuleCodec,
)
from hall_controller.simulators.buses import SimulatedBus
from hall_controller.simulators.peers import View
from hall_controller.transports.base import ByteLink

# In-text marks such as [v8] (volume) or [x1] (prompt sounds) are not spoken.
_MARK = re.compile(r"\[[a-z]\d*\]")
# A real module speaks about four to five Chinese characters a second.
SECONDS_PER_CHARACTER = 0.22


@dataclass(frozen=True, slots=True)
class SpokenText:
    """One text the module spoke, from `at` until `until`."""

    at: float
    text: str  # as received, marks included
    encoding: str
    until: float
    cut_off: bool = False  # a newer text or a stop ended it early

    @property
    def words(self) -> str:
        """The text without its in-text marks: what a listener hears."""
        return _MARK.sub("", self.text)


class VoiceModulePeer:
    """The module's behaviour: bytes from the controller in, one-byte answers out."""

    address = 0  # a point-to-point line: the module hears everything

    def __init__(
        self,
        codec: VoiceModuleCodec,
        *,
        seconds_per_character: float = SECONDS_PER_CHARACTER,
    ) -> None:
        self.codec = codec
        self.seconds_per_character = seconds_per_character
        self.silent = False  # hears nothing, answers nothing (powered off, cable cut)
        self.spoken: list[SpokenText] = []
        self.cut_off = 0  # texts cut off by a newer text or a stop
        self.bad_frames = 0
        self.status_queries = 0
        # Told the time the module will finish each text it starts speaking.
        self.on_speaking: Callable[[float], None] | None = None
        self._decoder = CommandDecoder(codec)

    def busy(self, at: float) -> bool:
        """Whether the module is speaking at time `at`."""
        return bool(self.spoken) and not self.spoken[-1].cut_off and self.spoken[-1].until > at

    @property
    def texts(self) -> list[str]:
        """Every text spoken so far, without marks."""
        return [spoken.words for spoken in self.spoken]

    def feed(self, data: bytes, at: float) -> bytes:
        """Bytes from the controller; the module's answers."""
        if self.silent:
            return b""
        return self._answer(self._decoder.feed(data), at)

    def line_quiet(self, at: float) -> bytes:
        """A frame left half-sent is refused."""
        if self.silent:
            return b""
        return self._answer(self._decoder.flush(), at)

    def view(self) -> View:
        """What the module is saying now."""
        last = self.spoken[-1].words if self.spoken else ""
        return {"type": "voice_module", "last": last, "silent": self.silent}

    def _answer(self, items: list[voice_module.Command | BadFrame], at: float) -> bytes:
        out = bytearray()
        for item in items:
            out.append(self._handle(item, at))
        return bytes(out)

    def _cut(self, at: float) -> None:
        if self.busy(at):
            self.cut_off += 1
            self.spoken[-1] = replace(self.spoken[-1], until=at, cut_off=True)

    def _handle(self, item: voice_module.Command | BadFrame, at: float) -> int:
        if isinstance(item, BadFrame):
            self.bad_frames += 1
            return Answer.BAD_FRAME
        if isinstance(item, Synthesize):
            self._cut(at)  # a real module drops what it is saying for the new text
            length = len(_MARK.sub("", item.text))
            until = at + max(0.05, length * self.seconds_per_character)
            self.spoken.append(SpokenText(at, item.text, item.encoding, until))
            if self.on_speaking is not None:
                self.on_speaking(until)
            return Answer.RECEIVED
        assert isinstance(item, Control)
        if item.command == voice_module.STATUS:
            self.status_queries += 1
            return Answer.BUSY if self.busy(at) else Answer.IDLE
        if item.command == voice_module.STOP:
            self._cut(at)
        return Answer.RECEIVED


class SimulatedVoiceModule:
    """A voice module on the device side of a port; says 4F by itself when it falls idle."""

    def __init__(
        self,
        link: ByteLink,
        codec: VoiceModuleCodec,
        *,
        seconds_per_character: float = SECONDS_PER_CHARACTER,
        name: str | None = None,
    ) -> None:
        self.peer = VoiceModulePeer(codec, seconds_per_character=seconds_per_character)
        self.peer.on_speaking = self._speaking
        self.bus = SimulatedBus(link, [self.peer], name=name)
        self._ends: asyncio.Queue[float] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    @property
    def silent(self) -> bool:
        """Whether the module has gone silent."""
        return self.peer.silent

    @silent.setter
    def silent(self, value: bool) -> None:
        self.peer.silent = value

    async def start(self) -> None:
        """Open the device side and start answering."""
        await self.bus.start()
        self._task = asyncio.create_task(self._tell_idle(), name=f"sim-voice-idle:{self.bus.name}")

    async def stop(self) -> None:
        """Stop answering and close the device side."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.bus.stop()

    def _speaking(self, until: float) -> None:
        self._ends.put_nowait(until)

    async def _tell_idle(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            until = await self._ends.get()
            await asyncio.sleep(max(0.0, until - loop.time()))
            peer = self.peer
            last = peer.spoken[-1] if peer.spoken else None
            # Only the text that ran to its end is followed by 4F.
            if not peer.silent and last is not None and last.until == until and not last.cut_off:
                self.bus.send(bytes([Answer.IDLE]))
