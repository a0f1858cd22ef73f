"""A contact card in vpcd's virtual reader: a social security card that pcscd reads for real.

vpcd (vsmartcard-vpcd, loaded by pcscd) listens on a TCP port; a card is "inserted" while a
client is connected to it. Every message either way is a 2-byte big-endian length and a
payload. From the reader, 1-byte payloads are control: 0 power off, 1 power on, 2 reset (no
answer), 4 get the ATR (answered with the ATR); longer payloads are command APDUs, answered
with a response APDU. The card keeps reconnecting while inserted, so it is back in the reader
when pcscd restarts.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field

# A T=1 contact card ATR (made up, well-formed: TS 3B, historical bytes "HALL-SSC", TCK).
ATR = bytes.fromhex("3B 88 80 01 48 41 4C 4C 2D 53 53 43 6E")
SSSE = "sx1.sh.社会保障".encode("gbk")  # the social security environment's name
_POWER_OFF, _POWER_ON, _RESET, _GET_ATR = 0, 1, 2, 4
_RETRY_S = 0.05
_IO_TIMEOUT_S = 0.2

OK = b"\x90\x00"
FILE_NOT_FOUND = b"\x6a\x82"
RECORD_NOT_FOUND = b"\x6a\x83"
NOT_SUPPORTED = b"\x6d\x00"
NO_FILE_SELECTED = b"\x69\x86"


@dataclass
class SocialSecurityCard:
    """The card's files: EF05 (issuer's data) holds the card number as data item 07."""

    card_number: str = "A12345678"  # synthetic
    atr: bytes = ATR
    files: dict[int, dict[int, bytes]] = field(default_factory=dict)
    apdus: list[bytes] = field(default_factory=list)  # every command APDU it was sent
    _in_ssse: bool = False
    _file: int | None = None

    def __post_init__(self) -> None:
        number = self.card_number.encode("ascii")
        self.files.setdefault(0xEF05, {0x07: bytes((0x07, len(number))) + number})

    def answer(self, apdu: bytes) -> bytes:
        """The response APDU to one command APDU."""
        self.apdus.append(apdu)
        ins, p1 = apdu[1], apdu[2]
        data = apdu[5 : 5 + apdu[4]] if len(apdu) > 5 else b""
        if ins == 0xA4 and p1 == 0x04:  # SELECT by name
            self._in_ssse = data == SSSE
            self._file = None
            return OK if self._in_ssse else FILE_NOT_FOUND
        if ins == 0xA4 and p1 == 0x02:  # SELECT EF by identifier
            file_id = int.from_bytes(data, "big")
            if not self._in_ssse or file_id not in self.files:
                return FILE_NOT_FOUND
            self._file = file_id
            return OK
        if ins == 0xB2:  # READ RECORD p1 (P2 04: by number)
            if self._file is None:
                return NO_FILE_SELECTED
            record = self.files[self._file].get(p1)
            return RECORD_NOT_FOUND if record is None else record + OK
        return NOT_SUPPORTED

    def reset(self) -> None:
        """Power on or reset: nothing is selected any more."""
        self._in_ssse = False
        self._file = None


class VirtualCard:
    """Puts a card into vpcd's reader on `port` (insert) and takes it out (remove)."""

    def __init__(self, card: SocialSecurityCard, port: int, host: str = "127.0.0.1") -> None:
        self.card = card
        self.port = port
        self.host = host
        self.connections = 0  # how often vpcd took the card in
        self.polls = 0  # ATR requests: vpcd checking that the card is still there
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    @property
    def inserted(self) -> bool:
        """Between insert() and remove()."""
        return self._thread is not None

    def insert(self) -> None:
        """Put the card into the reader (vpcd sees it at its next presence poll)."""
        if self._thread is not None:
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(self._stop,), name="virtual card", daemon=True
        )
        self._thread.start()

    def remove(self) -> None:
        """Take the card out: the connection closes and vpcd reports an empty reader."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        with self._lock:
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)
        thread.join(2.0)
        assert not thread.is_alive(), "the virtual card's thread did not end"

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                sock = socket.create_connection((self.host, self.port), timeout=_IO_TIMEOUT_S)
            except OSError:
                stop.wait(_RETRY_S)  # vpcd is not listening (pcscd stopped): try again
                continue
            with self._lock:
                self._sock = sock
            self.connections += 1
            try:
                self._serve(sock, stop)
            except OSError:
                pass  # vpcd hung up (pcscd stopped) or remove() shut the socket
            finally:
                with self._lock:
                    self._sock = None
                sock.close()

    def _serve(self, sock: socket.socket, stop: threading.Event) -> None:
        sock.settimeout(_IO_TIMEOUT_S)
        while not stop.is_set():
            try:
                head = _receive(sock, 2)
            except TimeoutError:
                continue
            payload = _receive(sock, int.from_bytes(head, "big"))
            if len(payload) == 1:
                if payload[0] == _GET_ATR:
                    self.polls += 1
                    _send(sock, self.card.atr)
                elif payload[0] in (_POWER_ON, _RESET):
                    self.card.reset()
                continue  # power off: nothing to answer
            _send(sock, self.card.answer(payload))


def _receive(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        try:
            chunk = sock.recv(size - len(data))
        except TimeoutError:
            if not data:
                raise
            continue  # the rest of a message is on its way
        if not chunk:
            raise ConnectionResetError("vpcd closed the connection")
        data += chunk
    return bytes(data)


def _send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(len(payload).to_bytes(2, "big") + payload)
