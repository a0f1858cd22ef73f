"""PC/SC card readers through pcscd: pyscard's blocking calls on one thread per reader.

A `PcscReader` owns a PC/SC context and a worker thread from open() to close(); each method
hands one call to that thread and waits for its result on the loop, with a timeout. Waits for
a card are pcscd's own (SCardGetStatusChange with a timeout), and close() cancels one that is
under way. Every PC/SC error becomes LinkDown (pcscd or the reader gone; `CardGone` when only
the card went away) or LinkTimeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

try:
    from smartcard import scard
except ImportError:  # pyscard is the optional "pcsc" extra: without it, readers stay lost
    scard = None

from .base import LinkState
from .errors import LinkDown, LinkTimeout, TransportError
from .threads import post

T = TypeVar("T")
_Job = tuple[Callable[[], Any], "asyncio.Future[Any]"]

# Where pcsc-lite's clients find pcscd (PCSCLITE_CSOCK_NAME moves it, for clients).
_DEFAULT_SOCKET = "/run/pcscd/pcscd.comm"
# Beyond the library's own timeout, how long the loop waits for the thread to answer.
_GRACE_S = 2.0
_JOIN_S = 2.0
# pyscard raises these for calls it cannot even make (bad handles, types).
_LIBRARY_ERRORS: tuple[type[Exception], ...] = (
    TypeError,
    ValueError,
    OverflowError,
    SystemError,
) + ((scard.error,) if scard is not None else ())
# PC/SC return codes (winscard, as pcsc-lite defines them).
_SUCCESS = 0x00000000
_TIMEOUT = 0x8010000A  # SCARD_E_TIMEOUT
_NO_READERS = 0x8010002E  # SCARD_E_NO_READERS_AVAILABLE
_CARD_GONE = frozenset(
    {
        0x80100069,  # SCARD_W_REMOVED_CARD
        0x8010000C,  # SCARD_E_NO_SMARTCARD
        0x80100068,  # SCARD_W_RESET_CARD
        0x80100067,  # SCARD_W_UNPOWERED_CARD
        0x80100066,  # SCARD_W_UNRESPONSIVE_CARD
        0x80100065,  # SCARD_W_UNSUPPORTED_CARD
        0x8010000F,  # SCARD_E_PROTO_MISMATCH
        # What a card taken out during an exchange gives with some drivers (vpcd's among them).
        0x80100016,  # SCARD_E_NOT_TRANSACTED
    }
)


class CardGone(LinkDown):
    """The card was taken out (or stopped answering) during a call; the reader is still there."""


def pcscd_socket() -> str:
    """The path of pcscd's socket as pcsc-lite's clients see it."""
    return os.environ.get("PCSCLITE_CSOCK_NAME", _DEFAULT_SOCKET)


def pcscd_present() -> bool:
    """Whether pcscd's socket exists (pcscd removes it when it stops); cheap, never blocks."""
    return os.path.exists(pcscd_socket())


@dataclass(frozen=True, slots=True)
class CardSlot:
    """What the reader says about its slot: whether a card is in, and the card's ATR."""

    present: bool
    atr: bytes


def _code(hresult: int) -> int:
    return hresult & 0xFFFFFFFF


def _message(hresult: int) -> str:
    try:
        return f"{scard.SCardGetErrorMessage(hresult)} (0x{_code(hresult):08X})"
    except _LIBRARY_ERRORS:
        return f"PC/SC error 0x{_code(hresult):08X}"


class PcscReader:
    """One reader picked by a part of its PC/SC name ("" for the first reader pcscd lists)."""

    def __init__(self, match: str = "", *, name: str | None = None) -> None:
        self.match = match
        self.name = name or f"pcsc {match or 'first reader'}"
        self.reader: str | None = None  # the reader's full PC/SC name, once found
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._context: int | None = None
        self._card: tuple[int, int] | None = None  # card handle and protocol
        self._state = LinkState.DOWN
        self._insertion: int | None = None  # card events counted when the card went in

    @property
    def state(self) -> LinkState:
        """UP from a successful open() until close() or an error that takes the reader away."""
        return self._state

    def present(self) -> bool:
        """Whether pcscd is running (its socket exists); for polling while the reader is lost."""
        return pcscd_present()

    async def open(self, timeout: float) -> None:
        """Connect to pcscd and find the reader; LinkDown if pcscd or the reader is missing."""
        if self._state is LinkState.UP:
            return
        if scard is None:
            raise LinkDown(f"{self.name}: pyscard is not installed (the pcsc extra)")
        await self.close()
        self._state = LinkState.CONNECTING
        self._jobs = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._work, args=(self._jobs,), name=self.name, daemon=True
        )
        self._thread.start()
        try:
            self.reader = await self._call(self._connect_service, timeout, "open")
        except BaseException:
            await self.close()
            raise
        self._state = LinkState.UP

    async def wait_for(self, present: bool, timeout: float) -> CardSlot:
        """Wait until a card is in the reader (`present`), or until the card found by the last
        such wait is gone (even if another is in by then); the slot then. LinkTimeout if that
        did not happen within `timeout`."""
        return await self._call(
            lambda: self._wait_for(present, timeout), timeout + _GRACE_S, "card wait"
        )

    async def connect_card(self, timeout: float) -> bytes:
        """Connect to the card in the reader (T=0 or T=1); its ATR. CardGone if there is none."""
        return await self._call(self._connect_card, timeout, "card connect")

    async def transmit(self, apdu: bytes, timeout: float) -> bytes:
        """Send one command APDU to the connected card; its response APDU (data, SW1, SW2)."""
        return await self._call(lambda: self._transmit(apdu), timeout, "transmit")

    async def release_card(self, timeout: float) -> None:
        """Disconnect from the card, leaving it powered as it is; does nothing if not connected."""
        await self._call(self._release_card, timeout, "card release")

    async def close(self) -> None:
        """Cancel a wait under way, release the context and end the thread; idempotent."""
        thread, self._thread = self._thread, None
        self._state = LinkState.DOWN
        if thread is None:
            return
        context = self._context
        if context is not None:
            # Made for calling from another thread, but a round trip to pcscd: not on the loop.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.to_thread(_cancel, context), _JOIN_S)
        self._jobs.put(None)
        await asyncio.get_running_loop().run_in_executor(None, thread.join, _JOIN_S)

    # --- the loop's side -----------------------------------------------------------------

    async def _call(self, job: Callable[[], T], timeout: float, what: str) -> T:
        if self._thread is None:
            raise LinkDown(f"{self.name}: not open")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.put((job, future))
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise LinkTimeout(f"{self.name}: {what} did not finish in {timeout:g} s") from None
        except LinkDown as exc:
            if self._state is LinkState.UP and not isinstance(exc, CardGone):
                self._state = LinkState.DOWN
            raise

    # --- the thread's side ---------------------------------------------------------------

    def _work(self, jobs: queue.SimpleQueue[_Job | None]) -> None:
        """Run jobs one after the other until None; release the context at the end."""
        while (item := jobs.get()) is not None:
            job, future = item
            result: Any = None
            error: BaseException | None = None
            try:
                result = job()
            except TransportError as exc:
                error = exc
            except Exception as exc:  # pyscard's own errors; the thread must go on regardless
                error = LinkDown(f"{self.name}: {type(exc).__name__}: {exc}")
            post(future.get_loop(), _resolve, future, result, error)
        self._release_card()
        context, self._context = self._context, None
        if context is not None:
            with contextlib.suppress(*_LIBRARY_ERRORS):
                scard.SCardReleaseContext(context)

    def _check(self, hresult: int, what: str) -> None:
        if _code(hresult) == _SUCCESS:
            return
        code = _code(hresult)
        if code == _TIMEOUT:
            raise LinkTimeout(f"{self.name}: {what}: {_message(hresult)}")
        if code in _CARD_GONE:
            raise CardGone(f"{self.name}: {what}: {_message(hresult)}")
        raise LinkDown(f"{self.name}: {what}: {_message(hresult)}")

    def _connect_service(self) -> str:
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        self._check(hresult, "cannot reach pcscd")
        self._context = context
        self._insertion = None
        hresult, readers = scard.SCardListReaders(context, [])
        if _code(hresult) == _NO_READERS:
            readers = []
        else:
            self._check(hresult, "cannot list readers")
        for reader in readers:
            if self.match in reader:
                return str(reader)
        listed = ", ".join(readers) or "none"
        raise LinkDown(f"{self.name}: no reader named like {self.match!r} (readers: {listed})")

    def _require_context(self) -> tuple[int, str]:
        if self._context is None or self.reader is None:
            raise LinkDown(f"{self.name}: not open")
        return self._context, self.reader

    def _wait_for(self, present: bool, timeout: float) -> CardSlot:
        context, reader = self._require_context()
        deadline = time.monotonic() + timeout
        known = scard.SCARD_STATE_UNAWARE  # the first look answers at once: the state now
        while True:
            left_ms = max(0, int((deadline - time.monotonic()) * 1000))
            wait_ms = 0 if known == scard.SCARD_STATE_UNAWARE else left_ms
            hresult, states = scard.SCardGetStatusChange(context, wait_ms, [(reader, known)])
            self._check(hresult, "waiting for a card")
            _, event, atr = states[0]
            if event & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
                raise LinkDown(f"{self.name}: the reader {reader!r} is gone")
            # Without the CHANGED bit this is the state we know about; the high 16 bits count
            # the reader's card events (pcsc-lite), so a quick swap is a change too.
            known = event & ~scard.SCARD_STATE_CHANGED
            in_slot = bool(event & scard.SCARD_STATE_PRESENT) and not (
                event & scard.SCARD_STATE_MUTE
            )
            if present and in_slot:
                self._insertion = known >> 16
                return CardSlot(True, bytes(atr))
            if not present and (not in_slot or known >> 16 != self._insertion):
                return CardSlot(in_slot, bytes(atr) if in_slot else b"")
            if left_ms == 0:
                raise LinkTimeout(f"{self.name}: no card change in {timeout:g} s")

    def _connect_card(self) -> bytes:
        context, reader = self._require_context()
        self._release_card()
        hresult, card, protocol = scard.SCardConnect(
            context,
            reader,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        self._check(hresult, "cannot connect to the card")
        self._card = (card, protocol)
        hresult, _, _, _, atr = scard.SCardStatus(card)
        self._check(hresult, "cannot read the card's status")
        return bytes(atr)

    def _transmit(self, apdu: bytes) -> bytes:
        if self._card is None:
            raise CardGone(f"{self.name}: no card connected")
        card, protocol = self._card
        hresult, response = scard.SCardTransmit(card, protocol, list(apdu))
        self._check(hresult, "transmit failed")
        return bytes(response)

    def _release_card(self) -> None:
        card, self._card = self._card, None
        if card is not None:
            with contextlib.suppress(*_LIBRARY_ERRORS):
                scard.SCardDisconnect(card[0], scard.SCARD_LEAVE_CARD)


def _cancel(context: int) -> None:
    """End a wait for a card under way in `context` (blocking: asks pcscd)."""
    with contextlib.suppress(*_LIBRARY_ERRORS):
        scard.SCardCancel(context)


def _resolve(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    """Settle `future` on the loop thread, unless its waiter gave up already."""
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
