"""Second-generation resident ID card readers' SAM protocol (GA 467-2013): frames and text.

Every frame on the line is laid out as

    AA AA AA 96 69 | length (2 bytes, big-endian) | body | checksum

A request's body is command, parameter and data; a reply's body is SW1 SW2 SW3 and data. The
length counts the body and the checksum; the checksum is the XOR of the length and body bytes.
SW3 is the reader's own status (`Status`). The text record of a card is 256 bytes of UTF-16LE,
each field padded with spaces (`parse_text_record`); the photo (WLT) is not decoded here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import Generic, TypeVar

PREAMBLE = bytes.fromhex("AA AA AA 96 69")
_LENGTH_SIZE = 2
# Fingerprint reads are the longest replies (about 2.3 KB); anything far beyond is noise.
MAX_LENGTH = 0x1000
TEXT_RECORD_SIZE = 256
PHOTO_SIZE = 1024  # a WLT photo; only its length matters here


@dataclass(frozen=True, slots=True)
class IdCardText:
    """The text record of a resident ID card; personal data: hold it only while handling it."""

    name: str
    sex: str  # "男" / "女" (the card stores a code: 1 male, 2 female)
    nation: str  # the nation's name, e.g. "汉" (the card stores a two-digit code)
    birth_date: str  # YYYYMMDD
    address: str
    id_number: str
    authority: str
    valid_from: str  # YYYYMMDD
    valid_to: str  # YYYYMMDD, or "长期" (no end)


class SamFrameError(ValueError):
    """Bytes that are not one well-formed SAM frame (the message says why, never the data)."""


class TextRecordError(ValueError):
    """A text record that cannot be a card's (the message names the field, never its value)."""


class Status(IntEnum):
    """SW3 of a reply: the reader's own status code."""

    OK = 0x90
    CARD_FOUND = 0x9F
    NO_CONTENT = 0x91  # the card holds nothing for this item
    BAD_CHECKSUM = 0x10  # the reader got a request with a wrong checksum
    BAD_LENGTH = 0x11
    BAD_COMMAND = 0x21
    UNKNOWN_ERROR = 0x24
    CARD_REFUSED_READER = 0x31  # the card did not authenticate the reader
    READER_REFUSED_CARD = 0x32  # the reader did not authenticate the card
    VERIFY_FAILED = 0x33
    WRONG_CARD = 0x40
    READ_FAILED = 0x41
    RANDOM_FAILED = 0x47
    SELF_TEST_FAILED = 0x60
    NOT_AUTHORISED = 0x66  # the SAM module has not been authorised for use
    NO_CARD = 0x80  # find card found nothing
    SELECT_FAILED = 0x81


_STATUS_WORDS: Mapping[int, str] = MappingProxyType(
    {
        Status.OK: "OK",
        Status.CARD_FOUND: "card found",
        Status.NO_CONTENT: "no content",
        Status.BAD_CHECKSUM: "the reader got a bad checksum",
        Status.BAD_LENGTH: "the reader got a bad length",
        Status.BAD_COMMAND: "the reader refused the command",
        Status.UNKNOWN_ERROR: "unknown error",
        Status.CARD_REFUSED_READER: "the card refused the reader",
        Status.READER_REFUSED_CARD: "the reader refused the card",
        Status.VERIFY_FAILED: "verification failed",
        Status.WRONG_CARD: "not a resident ID card",
        Status.READ_FAILED: "reading the card failed",
        Status.RANDOM_FAILED: "getting a random number failed",
        Status.SELF_TEST_FAILED: "the reader's self test failed",
        Status.NOT_AUTHORISED: "the SAM module is not authorised",
        Status.NO_CARD: "no card",
        Status.SELECT_FAILED: "selecting the card failed",
    }
)


def status_text(sw3: int) -> str:
    """The status in words, e.g. "no card (80)"; unknown codes are shown in hex."""
    return f"{_STATUS_WORDS.get(sw3, 'unknown status')} ({sw3:02X})"


def xor_checksum(data: bytes) -> int:
    """All bytes XORed together."""
    result = 0
    for byte in data:
        result ^= byte
    return result


def _frame(body: bytes) -> bytes:
    length = (len(body) + 1).to_bytes(_LENGTH_SIZE, "big")
    return PREAMBLE + length + body + bytes((xor_checksum(length + body),))


def _body(frame: bytes, minimum: int) -> bytes:
    """The body of one complete frame; SamFrameError when it is not exactly one good frame."""
    if not frame.startswith(PREAMBLE):
        raise SamFrameError("no preamble")
    head = len(PREAMBLE) + _LENGTH_SIZE
    if len(frame) < head:
        raise SamFrameError("short frame")
    length = int.from_bytes(frame[len(PREAMBLE) : head], "big")
    if length < minimum + 1:
        raise SamFrameError(f"short frame: length {length}")
    if len(frame) != head + length:
        raise SamFrameError(f"length {length} does not match {len(frame) - head} bytes")
    if xor_checksum(frame[len(PREAMBLE) : -1]) != frame[-1]:
        raise SamFrameError("bad checksum")
    return frame[head:-1]


@dataclass(frozen=True, slots=True)
class SamRequest:
    """A command to the reader's SAM module."""

    command: int
    parameter: int
    data: bytes = b""

    def to_bytes(self) -> bytes:
        """The frame on the line."""
        return _frame(bytes((self.command, self.parameter)) + self.data)

    @classmethod
    def from_bytes(cls, frame: bytes) -> SamRequest:
        """Parse one complete request frame; SamFrameError if it is not one."""
        body = _body(frame, 2)
        return cls(body[0], body[1], body[2:])

    def __str__(self) -> str:
        return f"{self.command:02X} {self.parameter:02X}"


FIND_CARD = SamRequest(0x20, 0x01)
SELECT_CARD = SamRequest(0x20, 0x02)
READ_TEXT_PHOTO = SamRequest(0x30, 0x01)
RESET_SAM = SamRequest(0x10, 0xFF)
SAM_STATUS = SamRequest(0x11, 0xFF)


@dataclass(frozen=True, slots=True)
class SamReply:
    """The reader's answer: SW1 SW2 (forwarded from the card), SW3 (its own status), data."""

    sw3: int
    data: bytes = b""
    sw1: int = 0x00
    sw2: int = 0x00

    @property
    def status(self) -> Status | None:
        """SW3 as a known status, or None for a code this module does not know."""
        try:
            return Status(self.sw3)
        except ValueError:
            return None

    def to_bytes(self) -> bytes:
        """The frame on the line."""
        return _frame(bytes((self.sw1, self.sw2, self.sw3)) + self.data)

    @classmethod
    def from_bytes(cls, frame: bytes) -> SamReply:
        """Parse one complete reply frame; SamFrameError if it is not one."""
        body = _body(frame, 3)
        return cls(sw3=body[2], data=body[3:], sw1=body[0], sw2=body[1])

    def header(self) -> str:
        """The frame's preamble, length and status words in hex, and the size of its data: what
        a technician may see of any reply (a text record's data is personal)."""
        length = (3 + len(self.data) + 1).to_bytes(_LENGTH_SIZE, "big")
        words = bytes((self.sw1, self.sw2, self.sw3))
        return f"{(PREAMBLE + length + words).hex(' ').upper()} + {len(self.data)} data bytes"


def text_photo_reply(text: bytes, photo: bytes) -> SamReply:
    """The reply to READ_TEXT_PHOTO carrying `text` and `photo` (the reader's side)."""
    head = len(text).to_bytes(2, "big") + len(photo).to_bytes(2, "big")
    return SamReply(Status.OK, head + text + photo)


def split_text_photo(reply: SamReply) -> tuple[bytes, bytes]:
    """The text record and photo of a READ_TEXT_PHOTO reply; SamFrameError if the lengths lie."""
    data = reply.data
    if len(data) < 4:
        raise SamFrameError("a text and photo reply needs 4 bytes of lengths")
    text_size = int.from_bytes(data[0:2], "big")
    photo_size = int.from_bytes(data[2:4], "big")
    if 4 + text_size + photo_size != len(data):
        raise SamFrameError(
            f"text {text_size} + photo {photo_size} bytes do not match {len(data) - 4} bytes"
        )
    return data[4 : 4 + text_size], data[4 + text_size :]


# --- the stream decoder ----------------------------------------------------------------------

F = TypeVar("F", SamRequest, SamReply)


class _Decoder(Generic[F]):
    """Finds frames in a byte stream cut anywhere; skips, counts and resyncs past the rest.

    `errors` counts bad checksums, short and oversized frames, truncated frames (see flush) and
    each run of skipped garbage once. `feed` never raises.
    """

    _minimum: int  # body bytes a frame of this direction has at least

    def __init__(self) -> None:
        self._buffer = bytearray()
        # True from an error until the next good frame: a resync counts as one error.
        self._resyncing = False
        self.errors = 0
        self.last_error: str | None = None

    @property
    def pending(self) -> int:
        """Bytes held back: a partial frame, or the start of a preamble."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[F]:
        """The frames completed by `data`, in stream order."""
        self._buffer += data
        return self._drain()

    def flush(self) -> list[F]:
        """Give up on a partial frame (the line has gone quiet); frames found behind it."""
        if not self._buffer:
            return []
        if self._buffer.startswith(PREAMBLE):
            self._fail("truncated frame")
        else:
            self._skipped()
        del self._buffer[:1]
        frames = self._drain()
        if self._buffer:
            self._skipped()
            self._buffer.clear()
        return frames

    def _parse(self, frame: bytes) -> F:
        """One whole frame as a request or a reply (each decoder its own); SamFrameError."""
        raise NotImplementedError

    def _skipped(self) -> None:
        if not self._resyncing:
            self.errors += 1
            self.last_error = "garbage skipped"
        self._resyncing = True

    def _fail(self, reason: str) -> None:
        self.errors += 1
        self.last_error = reason
        self._resyncing = True

    def _drain(self) -> list[F]:
        buf = self._buffer
        frames: list[F] = []
        pos = 0
        head = len(PREAMBLE) + _LENGTH_SIZE
        while True:
            start = buf.find(PREAMBLE, pos)
            if start < 0:
                keep = _preamble_prefix_at_end(buf, pos)
                if len(buf) - keep > pos:
                    self._skipped()
                pos = len(buf) - keep
                break
            if start > pos:
                self._skipped()
            if len(buf) - start < head:
                pos = start
                break
            length = int.from_bytes(buf[start + len(PREAMBLE) : start + head], "big")
            if length < self._minimum + 1:
                self._fail(f"short frame: length {length}")
                pos = start + 1
                continue
            if length > MAX_LENGTH:
                self._fail(f"oversized frame: length {length}")
                pos = start + 1
                continue
            end = start + head + length
            if len(buf) < end:
                pos = start
                break
            try:
                frames.append(self._parse(bytes(buf[start:end])))
            except SamFrameError as exc:
                self._fail(str(exc))
                pos = start + 1
                continue
            self._resyncing = False
            pos = end
        del buf[:pos]
        return frames


class ReplyDecoder(_Decoder[SamReply]):
    """The controller's side: replies from the reader."""

    _minimum = 3

    def _parse(self, frame: bytes) -> SamReply:
        return SamReply.from_bytes(frame)


class RequestDecoder(_Decoder[SamRequest]):
    """The reader's side: requests from the controller."""

    _minimum = 2

    def _parse(self, frame: bytes) -> SamRequest:
        return SamRequest.from_bytes(frame)


def _preamble_prefix_at_end(buf: bytearray, pos: int) -> int:
    """How many bytes at the end of `buf` (after `pos`) could be the start of a preamble."""
    for size in range(min(len(PREAMBLE) - 1, len(buf) - pos), 0, -1):
        if buf.endswith(PREAMBLE[:size]):
            return size
    return 0


# --- the text record ---------------------------------------------------------------------------

# GB 3304: the nations' codes as the card stores them.
NATIONS: Mapping[str, str] = MappingProxyType(
    {
        f"{code:02d}": name
        for code, name in enumerate(
            (
                "汉",
                "蒙古",
                "回",
                "藏",
                "维吾尔",
                "苗",
                "彝",
                "壮",
                "布依",
                "朝鲜",
                "满",
                "侗",
                "瑶",
                "白",
                "土家",
                "哈尼",
                "哈萨克",
                "傣",
                "黎",
                "傈僳",
                "佤",
                "畲",
                "高山",
                "拉祜",
                "水",
                "东乡",
                "纳西",
                "景颇",
                "柯尔克孜",
                "土",
                "达斡尔",
                "仫佬",
                "羌",
                "布朗",
                "撒拉",
                "毛南",
                "仡佬",
                "锡伯",
                "阿昌",
                "普米",
                "塔吉克",
                "怒",
                "乌孜别克",
                "俄罗斯",
                "鄂温克",
                "德昂",
                "保安",
                "裕固",
                "京",
                "塔塔尔",
                "独龙",
                "鄂伦春",
                "赫哲",
                "门巴",
                "珞巴",
                "基诺",
            ),
            start=1,
        )
    }
    | {"97": "其他", "98": "外国血统中国籍人士"}
)
# GB/T 2261.1: the sexes' codes as the card stores them.
SEXES: Mapping[str, str] = MappingProxyType({"0": "未知", "1": "男", "2": "女", "9": "未说明"})
NO_END = "长期"

# (field, size in bytes) in record order; 36 reserved bytes end the record.
_LAYOUT: tuple[tuple[str, int], ...] = (
    ("name", 30),
    ("sex", 2),
    ("nation", 4),
    ("birth_date", 16),
    ("address", 70),
    ("id_number", 36),
    ("authority", 30),
    ("valid_from", 16),
    ("valid_to", 16),
)
_RESERVED = TEXT_RECORD_SIZE - sum(size for _, size in _LAYOUT)


def _is_date(text: str) -> bool:
    return len(text) == 8 and text.isascii() and text.isdigit()


def parse_text_record(record: bytes) -> IdCardText:
    """The card's text from its 256-byte record; TextRecordError names a field that is wrong."""
    if len(record) != TEXT_RECORD_SIZE:
        raise TextRecordError(f"a text record has {TEXT_RECORD_SIZE} bytes, not {len(record)}")
    fields: dict[str, str] = {}
    pos = 0
    for name, size in _LAYOUT:
        try:
            text = record[pos : pos + size].decode("utf-16-le")
        except UnicodeDecodeError:
            raise TextRecordError(f"{name} is not UTF-16 text") from None
        fields[name] = text.rstrip(" \x00")
        pos += size
    sex = SEXES.get(fields["sex"])
    if sex is None:
        raise TextRecordError("sex holds an unknown code")
    nation = NATIONS.get(fields["nation"])
    if nation is None:
        raise TextRecordError("nation holds an unknown code")
    for name in ("birth_date", "valid_from"):
        if not _is_date(fields[name]):
            raise TextRecordError(f"{name} is not a date YYYYMMDD")
    if fields["valid_to"] != NO_END and not _is_date(fields["valid_to"]):
        raise TextRecordError(f"valid_to is neither a date YYYYMMDD nor {NO_END}")
    for name in ("name", "id_number"):
        if not fields[name]:
            raise TextRecordError(f"{name} is empty")
    return IdCardText(
        name=fields["name"],
        sex=sex,
        nation=nation,
        birth_date=fields["birth_date"],
        address=fields["address"],
        id_number=fields["id_number"],
        authority=fields["authority"],
        valid_from=fields["valid_from"],
        valid_to=fields["valid_to"],
    )


def _code_of(names: Mapping[str, str], value: str, field: str) -> str:
    for code, name in names.items():
        if name == value:
            return code
    raise ValueError(f"{field} {value!r} has no code")


def text_record(card: IdCardText) -> bytes:
    """The 256-byte record a card holds for `card` (the reader's side); ValueError if a field
    does not fit or has no code."""
    values = {
        "name": card.name,
        "sex": _code_of(SEXES, card.sex, "sex"),
        "nation": _code_of(NATIONS, card.nation, "nation"),
        "birth_date": card.birth_date,
        "address": card.address,
        "id_number": card.id_number,
        "authority": card.authority,
        "valid_from": card.valid_from,
        "valid_to": card.valid_to,
    }
    out = bytearray()
    for name, size in _LAYOUT:
        encoded = values[name].encode("utf-16-le")
        if len(encoded) > size:
            raise ValueError(f"{name} takes {len(encoded)} bytes; the record has {size}")
        out += encoded + " ".encode("utf-16-le") * ((size - len(encoded)) // 2)
    return bytes(out) + " ".encode("utf-16-le") * (_RESERVED // 2)
