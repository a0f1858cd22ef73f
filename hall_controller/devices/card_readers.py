"""Card readers at a kiosk: resident ID cards through a SAM module, contact cards through PC/SC.

Each reader has a link of its own, kept up by a Supervisor, and hands every card presented to
the hub once (`CardPresented`): a card left on the reader is not read again until it has been
taken away. What a card says is personal data: it goes to the hub and nowhere else (never to
logs or health, which show frame headers and status words only).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from hall_controller.devices.base import DeviceContext, SupervisedDevice
from hall_controller.devices.errors import DeviceLost
from hall_controller.devices.health import DeviceState, FrameSeen
from hall_controller.devices.model import CardPresented, ContactCard
from hall_controller.devices.supervisor import Supervisor
from hall_controller.profiles import DeviceConfig, PcscCardSettings, SamIdCardSettings
from hall_controller.protocols.sam_idcard import (
    FIND_CARD,
    READ_TEXT_PHOTO,
    SELECT_CARD,
    TEXT_RECORD_SIZE,
    ReplyDecoder,
    SamFrameError,
    SamReply,
    SamRequest,
    Status,
    TextRecordError,
    parse_text_record,
    split_text_photo,
    status_text,
)
from hall_controller.transports.backoff import Backoff
from hall_controller.transports.base import ByteLink
from hall_controller.transports.errors import LinkTimeout, TransportError
from hall_controller.transports.pcsc import CardGone, CardSlot, PcscReader
from hall_controller.transports.serial import SerialLink, SerialParams, port_present

log = structlog.get_logger("hall_controller.devices")

# Attempts at reading one presented card before it must be taken away and presented again: a
# card that fails this often will fail again, and the line stays free for the next one.
MAX_ATTEMPTS = 3
# Answers to GET RESPONSE followed (T=0 cards hand long answers out in pieces).
_MAX_GET_RESPONSE = 8
_SW_OK = b"\x90\x00"


class _Link:
    """What the Supervisor keeps up for a reader: the adapter's own connect/serve/disconnect."""

    def __init__(self, name: str, reader: _CardReader) -> None:
        self.name = name
        self._reader = reader

    async def connect(self) -> None:
        await self._reader._connect()

    async def serve(self) -> None:
        await self._reader._serve()

    async def disconnect(self) -> None:
        await self._reader._disconnect()

    def present(self) -> bool:
        return self._reader._present()


class _CardReader(SupervisedDevice):
    """A reader with a link of its own: supervisor, state and the once-per-card hand-over."""

    def __init__(self, config: DeviceConfig, context: DeviceContext) -> None:
        super().__init__(config, context)
        self.cards_read = 0  # cards handed to the hub
        self._was_ready = False

    def _ready(self) -> None:
        if self.health.state is DeviceState.READY:
            return
        if self._was_ready:
            self.health.reconnects += 1
        self._was_ready = True
        self.set_state(DeviceState.READY)

    def _hand_over(self, card: CardPresented) -> None:
        self.cards_read += 1
        self.submit(card)

    async def _connect(self) -> None:
        """Open the reader's link (each kind of reader its own); DeviceError if it cannot."""
        raise NotImplementedError

    async def _serve(self) -> None:
        """Read cards until the link fails (each kind of reader its own); DeviceError then."""
        raise NotImplementedError

    async def _disconnect(self) -> None:
        """Close what _connect opened; never raises."""
        raise NotImplementedError

    def _present(self) -> bool:
        """Whether the reader's port (or pcscd) is there now."""
        raise NotImplementedError


class SamIdCardReader(_CardReader):
    """A resident ID card reader's SAM module on a serial port of its own (or a USB bridge).

    It asks for a card every `poll`; a card found is selected and its text read and parsed.
    The reader is ready once it answers, and lost when it stays silent past the profile's
    watchdog (it is back with its next answer); a port that fails is reopened by the
    supervisor. Broken frames are counted in health.
    """

    def __init__(
        self,
        config: DeviceConfig,
        context: DeviceContext,
        *,
        open_link: Callable[[SerialParams], ByteLink] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(config, context)
        assert isinstance(config.profile.codec, SamIdCardSettings)
        assert config.port is not None, "a SAM reader needs a port"
        self.settings = config.profile.codec
        line = config.profile.serial
        assert line is not None
        self._params = SerialParams(
            config.port, line.baudrate, line.bytesize, line.parity, line.stopbits
        )
        self._open_link: Callable[[SerialParams], ByteLink] = open_link or SerialLink
        self._timeouts = config.profile.timeouts
        self._link: ByteLink | None = None
        self._decoder = ReplyDecoder()
        self._bad_seen = 0
        self._last_answer = 0.0
        self._card_done = False  # the card on the reader was handled: not again until removed
        self._attempts = 0
        self.supervisor = Supervisor(_Link(config.id, self), self._on_link, backoff=backoff)

    def _on_link(self, state: DeviceState, reason: str | None) -> None:
        # An open port is not yet a reader: the state is ready at the reader's first answer.
        if state is not DeviceState.READY:
            self.set_state(state, reason)

    # --- the supervised link ---------------------------------------------------------------

    async def _connect(self) -> None:
        link = self._open_link(self._params)
        try:
            await link.open(self._timeouts.open_s)
        except TransportError as exc:
            await link.close()
            raise DeviceLost(str(exc)) from exc
        self._link = link

    async def _disconnect(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await link.close()

    def _present(self) -> bool:
        return port_present(self._params.url)

    async def _serve(self) -> None:
        link = self._link
        assert link is not None
        loop = asyncio.get_running_loop()
        self._decoder = ReplyDecoder()
        self._bad_seen = 0
        # After a reconnect the card may have changed unseen: whatever lies there is new.
        self._card_done = False
        self._attempts = 0
        self._last_answer = loop.time()
        while True:
            reply = await self._exchange(link, FIND_CARD, self.settings.reply_timeout_s)
            if reply is None:
                self._watchdog(loop.time())
            elif reply.sw3 == Status.NO_CARD:
                self._card_done = False
                self._attempts = 0
            elif reply.sw3 == Status.CARD_FOUND:
                if not self._card_done:
                    await self._read_card(link)
            else:
                self.health.error(f"find card: {status_text(reply.sw3)}")
            await asyncio.sleep(self.settings.poll_s)

    def _watchdog(self, now: float) -> None:
        silent = now - self._last_answer
        watchdog = self._timeouts.watchdog_s
        if watchdog and silent > watchdog and self.health.state is not DeviceState.LOST:
            self.set_state(DeviceState.LOST, f"no answer for {silent:.1f} s")

    async def _read_card(self, link: ByteLink) -> None:
        """Select and read the card found; hand its text over, or count why that failed."""
        self._attempts += 1
        if self._attempts >= MAX_ATTEMPTS:
            self._card_done = True  # this was the last attempt for this presentation
        selected = await self._exchange(link, SELECT_CARD, self.settings.reply_timeout_s)
        if selected is None or selected.sw3 != Status.OK:
            self.health.error(f"select card: {_outcome(selected)}")
            return
        read = await self._exchange(link, READ_TEXT_PHOTO, self.settings.read_timeout_s)
        if read is None or read.sw3 != Status.OK:
            self.health.error(f"read card: {_outcome(read)}")
            return
        try:
            text, _photo = split_text_photo(read)
            card = parse_text_record(text)
        except (SamFrameError, TextRecordError) as exc:
            self.health.error(f"unreadable card: {exc}")
            log.warning("id_card_unreadable", device=self.id, reason=str(exc))
            return
        self._card_done = True
        log.info("id_card_read", device=self.id, kiosk=self.config.kiosk)
        self._hand_over(CardPresented(self.id, self.config.kiosk, card))

    async def _exchange(
        self, link: ByteLink, request: SamRequest, answer_within_s: float
    ) -> SamReply | None:
        """Send `request` and wait for its answer; None if none came in time."""
        await self._drain(link)
        frame = request.to_bytes()
        try:
            await link.write(frame, self._timeouts.write_s)
        except TransportError as exc:
            raise DeviceLost(str(exc)) from exc
        self.health.sent(frame)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + answer_within_s
        while (left := deadline - loop.time()) > 0:
            try:
                data = await link.read(left)
            except LinkTimeout:
                break
            except TransportError as exc:
                raise DeviceLost(str(exc)) from exc
            for reply in self._decode(self._decoder.feed(data)):
                if _answers(request, reply):
                    return reply
                self.health.error(f"unexpected reply to {request}: {status_text(reply.sw3)}")
        # Nothing more is coming: a partial frame never completes.
        self._decode(self._decoder.flush())
        return None

    async def _drain(self, link: ByteLink) -> None:
        """Take in what is already there: late answers to requests given up on."""
        while True:
            try:
                data = await link.read(0)
            except LinkTimeout:
                return
            except TransportError as exc:
                raise DeviceLost(str(exc)) from exc
            self._decode(self._decoder.feed(data))

    def _decode(self, replies: list[SamReply]) -> list[SamReply]:
        """Count broken frames; every good frame is a sign of life."""
        decoder = self._decoder
        if decoder.errors > self._bad_seen:
            self.health.error(
                f"{decoder.errors - self._bad_seen} broken frame(s): {decoder.last_error}"
            )
            self._bad_seen = decoder.errors
        for reply in replies:
            self._last_answer = asyncio.get_running_loop().time()
            # The header only: a text record's data is personal.
            self.health.seen(self.context.clock(), reply.header())
            self._ready()
        return replies


def _answers(request: SamRequest, reply: SamReply) -> bool:
    """Whether `reply` can answer `request`: replies do not name their command, and a late
    answer to an earlier request must not be taken for this one's."""
    if request == FIND_CARD:
        return reply.sw3 != Status.OK
    text_reply = reply.sw3 == Status.OK and len(reply.data) >= 4 + TEXT_RECORD_SIZE
    if request == SELECT_CARD:
        return reply.sw3 != Status.CARD_FOUND and not text_reply
    if request == READ_TEXT_PHOTO:
        return reply.sw3 not in (Status.OK, Status.CARD_FOUND) or text_reply
    return True


def _outcome(reply: SamReply | None) -> str:
    return "no answer" if reply is None else status_text(reply.sw3)


# --- PC/SC contact cards -------------------------------------------------------------------------


class PcscCardReader(_CardReader):
    """A PC/SC reader (through pcscd): each card inserted is read once, its ATR and number.

    pyscard runs on the reader's own thread (transports/pcsc.py). The reader is ready while
    pcscd lists it; when pcscd or the reader goes away it is lost, and back as soon as pcscd's
    socket reappears (or at the supervisor's next attempt).
    """

    def __init__(
        self,
        config: DeviceConfig,
        context: DeviceContext,
        *,
        open_reader: Callable[[str], PcscReader] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(config, context)
        assert isinstance(config.profile.codec, PcscCardSettings)
        self.settings = config.profile.codec
        self._timeouts = config.profile.timeouts
        self._reader = (open_reader or PcscReader)(self.settings.reader)
        self.supervisor = Supervisor(_Link(config.id, self), self._on_link, backoff=backoff)

    def _on_link(self, state: DeviceState, reason: str | None) -> None:
        if state is DeviceState.READY:
            self._ready()
        else:
            self.set_state(state, reason)

    async def _connect(self) -> None:
        try:
            await self._reader.open(self._timeouts.open_s)
        except TransportError as exc:
            await self._reader.close()
            raise DeviceLost(str(exc)) from exc
        self.health.where = self._reader.reader or self.health.where

    async def _disconnect(self) -> None:
        await self._reader.close()

    def _present(self) -> bool:
        return self._reader.present()

    async def _serve(self) -> None:
        while True:
            await self._wait_for(present=True)
            for attempt in range(1, MAX_ATTEMPTS + 1):
                if await self._read() or attempt == MAX_ATTEMPTS:
                    break
                # The card went during the read, or seemed to: one swapped faster than pcscd
                # looks (it polls some readers) is only found by looking again.
                await asyncio.sleep(self.settings.poll_s)
            await self._wait_for(present=False)

    async def _wait_for(self, *, present: bool) -> CardSlot:
        while True:
            try:
                return await self._reader.wait_for(present, self.settings.poll_s)
            except LinkTimeout:
                continue  # nothing changed; the wait is cut short to stay responsive
            except TransportError as exc:
                raise DeviceLost(str(exc)) from exc

    async def _read(self) -> bool:
        """Connect to the card, run the profile's APDUs and hand the card over; False if the
        card went before that."""
        timeout = self.settings.reply_timeout_s
        try:
            atr = await self._reader.connect_card(timeout)
            self.health.seen(self.context.clock(), f"ATR {atr.hex(' ').upper()}")
            number = await self._card_number()
        except CardGone as exc:
            self.health.error(f"the card went before it was read ({exc})")
            return False
        except TransportError as exc:
            raise DeviceLost(str(exc)) from exc
        finally:
            try:
                await self._reader.release_card(timeout)
            except TransportError as exc:
                log.info("card_release_failed", device=self.id, reason=str(exc))
        log.info("contact_card_read", device=self.id, kiosk=self.config.kiosk, number=bool(number))
        card = ContactCard(atr=atr.hex().upper(), card_number=number)
        self._hand_over(CardPresented(self.id, self.config.kiosk, card))
        return True

    async def _card_number(self) -> str | None:
        """The profile's APDUs in order; the number from the last answer (None if any fails)."""
        answer = b""
        for i, apdu in enumerate(self.settings.apdus):
            response = await self._command(apdu)
            status = response[-2:]
            shown = f"SW {status.hex(' ').upper()}"
            # The answer's data may be personal: the console keeps its status word only.
            self.health.recent_in.append(FrameSeen(self.context.clock(), shown, "status word"))
            if status != _SW_OK:
                log.info("card_number_unavailable", device=self.id, apdu=i, sw=status.hex().upper())
                return None
            answer = response[:-2]
        return card_number(answer, self.settings)

    async def _command(self, apdu: bytes) -> bytes:
        """One APDU's full response: a wrong Le is corrected (6C xx) and the rest of a long
        answer fetched (61 xx, GET RESPONSE)."""
        timeout = self.settings.reply_timeout_s
        self.health.sent(apdu)
        response = await self._reader.transmit(apdu, timeout)
        if len(response) < 2:
            return b"\x6f\x00"  # no status word: as the card saying "no precise diagnosis"
        if response[-2] == 0x6C and len(apdu) == 5:
            response = await self._reader.transmit(apdu[:4] + response[-1:], timeout)
        data = bytearray()
        for _ in range(_MAX_GET_RESPONSE):
            if len(response) < 2 or response[-2] != 0x61:
                break
            data += response[:-2]
            get_response = bytes((0x00, 0xC0, 0x00, 0x00)) + response[-1:]
            response = await self._reader.transmit(get_response, timeout)
        return bytes(data) + response


def card_number(answer: bytes, settings: PcscCardSettings) -> str | None:
    """The card number in the last APDU's answer, as the profile places and encodes it."""
    if settings.number_tag is not None:
        value = _tlv_value(answer, settings.number_tag)
    else:
        start = settings.number_offset
        end = None if settings.number_length is None else start + settings.number_length
        value = answer[start:end]
        if end is not None and len(answer) < end:
            value = None
    if not value:
        return None
    if settings.number_format == "bcd":
        digits = value.hex().upper().rstrip("F")
        return digits if digits.isdigit() else None
    text = value.rstrip(b"\x00\x20\xff")
    if not text or not all(0x21 <= byte < 0x7F for byte in text):
        return None
    return text.decode("ascii")


def _tlv_value(data: bytes, tag: int) -> bytes | None:
    """The value of the first `tag` in simple TLV data (1-byte tags and lengths)."""
    pos = 0
    while pos + 2 <= len(data):
        size = data[pos + 1]
        if data[pos] == tag:
            value = data[pos + 2 : pos + 2 + size]
            return value if len(value) == size else None
        pos += 2 + size
    return None
