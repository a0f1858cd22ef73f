"""Device profiles (device_profiles/*.toml): one model each, validated once into frozen data."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from types import MappingProxyType
from typing import Literal, TypeVar

from hall_controller.config_reader import (
    BYTE,
    HEX_BYTES,
    ConfigError,
    ConfigIssue,
    Kind,
    Reader,
    Table,
    boolean_value,
    choice,
    integer,
    join_key,
    parse_toml,
    quote,
    read_toml,
    seconds,
    text_value,
)
from hall_controller.protocols.callpad import KEY_ACTIONS, CallPadCodec
from hall_controller.protocols.checksums import CHECKSUMS
from hall_controller.protocols.escpos import ENCODINGS as ESCPOS_ENCODINGS
from hall_controller.protocols.escpos import PAPER_COLUMNS
from hall_controller.protocols.escpos import Encoding as EscposEncoding
from hall_controller.protocols.framed import Framing
from hall_controller.protocols.led_board import LedBoardCodec
from hall_controller.protocols.numeric_display import NumericDisplayMap
from hall_controller.protocols.rating_pad import RatingPadCodec
from hall_controller.protocols.rf433 import Rf433Layout
from hall_controller.protocols.voice_module import ENCODINGS as VOICE_ENCODINGS
from hall_controller.protocols.voice_module import VoiceModuleCodec

__all__ = [
    "KINDS",
    "KIOSK_KINDS",
    "AnnouncerSettings",
    "DeviceConfig",
    "DeviceKind",
    "DeviceProfile",
    "EscposSettings",
    "GpioPadSettings",
    "HidPadSettings",
    "KeyboardPadSettings",
    "ModbusDisplaySettings",
    "MqttDeviceSettings",
    "PcscCardSettings",
    "Rf433Settings",
    "SamIdCardSettings",
    "ScannerSettings",
    "SerialSettings",
    "Timeouts",
    "TtsSpeakerSettings",
    "VoiceModuleSettings",
    "check_profile_text",
    "load_profiles",
    "profiles_folder",
    "resolve_port",
    "validate_profile_text",
]

T = TypeVar("T")
DeviceKind = Literal[
    "call_pad",
    "window_display",
    "rating_pad",
    "ticket_printer",
    "card_reader",
    "code_scanner",
    "announcer",
]
KINDS: tuple[DeviceKind, ...] = (
    "call_pad",
    "window_display",
    "rating_pad",
    "ticket_printer",
    "card_reader",
    "code_scanner",
    "announcer",
)
# Kiosk devices belong to a kiosk (screen + printer + card reader + scanner), not a window.
KIOSK_KINDS: frozenset[DeviceKind] = frozenset({"ticket_printer", "card_reader", "code_scanner"})
# tcp: a raw socket (a network printer's port 9100); pcsc: a reader through pcscd (pyscard);
# audio: the edge box's own sound output.
TransportKind = Literal["serial", "mqtt", "gpio", "evdev", "usb", "tcp", "pcsc", "audio"]
TRANSPORTS: tuple[TransportKind, ...] = (
    "serial",
    "mqtt",
    "gpio",
    "evdev",
    "usb",
    "tcp",
    "pcsc",
    "audio",
)
SCORES = (1, 2, 3, 4, 5)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long the controller waits on this model, and how it notices that it is gone."""

    open_s: float = 2.0
    write_s: float = 1.0
    # A device that answers pings (or sends anything) within this time is alive; 0: no watchdog.
    watchdog_s: float = 0.0
    ping_every_s: float = 0.0
    # Boards that never answer get their showing again this often, healing frames lost to
    # noise on the line; 0: only on changes and reconnects.
    refresh_every_s: float = 0.0


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """Line settings of a serial model (RS-232, RS-485 or a USB serial adapter)."""

    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1


@dataclass(frozen=True, slots=True)
class Rf433Settings:
    """A 433 MHz receiver: which bits of a remote's code are the key, and when a key is released."""

    layout: Rf433Layout
    release_after_s: float


@dataclass(frozen=True, slots=True)
class ModbusDisplaySettings:
    """A Modbus RTU numeric window display: its register map."""

    registers: NumericDisplayMap


@dataclass(frozen=True, slots=True)
class GpioPadSettings:
    """Buttons on GPIO pins (named in the hall config) and the actions they stand for."""

    buttons: Mapping[str, str]  # pin name in the hall config -> action
    bounce_s: float


@dataclass(frozen=True, slots=True)
class KeyboardPadSettings:
    """A pad that types as a keyboard: evdev key names and the actions they stand for."""

    keys: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class HidPadSettings:
    """A USB HID pad read with pyusb: which report byte carries the key and what each code means."""

    vendor_id: int
    product_id: int
    key_byte: int
    keys: Mapping[int, str]


@dataclass(frozen=True, slots=True)
class EscposSettings:
    """A thermal ticket printer speaking ESC/POS: paper, Chinese text, cutter, status timing."""

    paper_width: int  # mm: 58 (32 characters, 384 dots) or 80 (48 characters, 576 dots)
    encoding: EscposEncoding  # "gb18030" or "gbk": the printer's Chinese font
    chinese_mode: bool  # Chinese runs need FS & ... FS . (False: the printer is always in it)
    cutter: bool  # False: the ticket is fed out to be torn off
    qr_module_size: int  # dots per QR module
    status_timeout_s: float  # a DLE EOT status query unanswered this long: the printer is lost
    print_timeout_s: float  # a ticket not confirmed (GS r 1) this long after sending: failed
    escpos_profile: str  # python-escpos capability profile the ticket is built with
    vendor_id: int | None = None  # usb: the printer's ids (none: the port is a /dev/usb/lp*)
    product_id: int | None = None


@dataclass(frozen=True, slots=True)
class ScannerSettings:
    """A code scanner: how a code ends (keyboard scanners) and its text encoding (serial ones)."""

    end_on_tab: bool = False
    encoding: str = "utf-8"


@dataclass(frozen=True, slots=True)
class MqttDeviceSettings:
    """A device speaking the hall's MQTT topic tree itself."""

    text_width: int
    keys: tuple[str, ...]  # the actions its keys send (call pads)


@dataclass(frozen=True, slots=True)
class TtsSpeakerSettings:
    """A loudspeaker on the edge box: espeak-ng voices, speaking rate, and how WAVs are played."""

    voices: Mapping[str, str]  # language ("zh", "en", "yue") -> espeak-ng voice
    rate: int  # words per minute
    player: tuple[str, ...] | None  # command with "{file}"; None: WAV files ("file")
    chime: Path | None  # a WAV played before each announcement; None: a generated chime


@dataclass(frozen=True, slots=True)
class VoiceModuleSettings:
    """A serial speech module (SYN6288, XFS5152): its frames and how long it may take."""

    codec: VoiceModuleCodec
    busy_timeout_s: float  # the longest one text may keep the module busy
    poll_every_s: float  # status queries while it speaks
    answer_timeout_s: float  # for its one-byte answer to a frame
    chime_text: str  # said before each announcement when the hall wants a chime ("": none)
    volume_steps: int  # its volume marks go [v0]..[vN]; 0: it gets none


@dataclass(frozen=True, slots=True)
class SamIdCardSettings:
    """A resident ID card reader's SAM module: how often it is asked for a card, how long for."""

    poll_s: float  # between two "find card" requests
    reply_timeout_s: float  # for the answer to "find card" and "select card"
    read_timeout_s: float  # for the text and photo (the card itself is slow)


@dataclass(frozen=True, slots=True)
class PcscCardSettings:
    """A PC/SC contact card reader: which reader, the APDUs that reach the card's number, and
    where the number is in the last answer."""

    reader: str  # a part of the reader's PC/SC name; "": the first reader pcscd lists
    apdus: tuple[bytes, ...]  # sent in order once a card is in; each must answer 90 00
    number_tag: int | None  # the answer is tag-length-value: the number is this tag's value
    number_offset: int  # otherwise: where the number starts in the answer
    number_length: int | None  # and how long it is (None: to the end)
    number_format: str  # "ascii" (padding 00/20/FF cut) or "bcd" (digits, F padding cut)
    poll_s: float  # one wait for a card (or its removal) lasts at most this long
    reply_timeout_s: float  # for each APDU's answer


Codec = (
    LedBoardCodec
    | CallPadCodec
    | RatingPadCodec
    | Rf433Settings
    | ModbusDisplaySettings
    | GpioPadSettings
    | KeyboardPadSettings
    | HidPadSettings
    | MqttDeviceSettings
    | TtsSpeakerSettings
    | VoiceModuleSettings
    | ScannerSettings
    | EscposSettings
    | SamIdCardSettings
    | PcscCardSettings
)


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """One device model: what it is, how it is reached and how its bytes look."""

    id: str
    file: str
    kind: DeviceKind
    model: str
    driver: str
    transport: TransportKind
    codec: Codec
    serial: SerialSettings | None
    timeouts: Timeouts
    # What the window display shows; "{ticket}" and "{window}" are filled in.
    show_text: str = "{ticket}"
    paused_text: str = "暂停服务"
    feedback: bool = True
    quirks: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class AnnouncerSettings:
    """How the hall's announcers speak: the hall config's [announcer] table."""

    # Language -> template; "{ticket}" and "{window}" are filled in ("请 {ticket} 号 ...").
    templates: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType(
            {
                "zh": "请 {ticket} 号 到 {window} 号窗口 办理",
                "en": "Number {ticket}, please go to window {window}",
            }
        )
    )
    languages: tuple[str, ...] = ("zh",)  # spoken one after the other, in this order
    one_as_yao: bool = False  # read the digit 1 as "幺" (clearer over loudspeakers)
    repeat: int = 1  # how many times each announcement is spoken
    chime: bool = True  # a chime before each announcement
    timezone: str = "Asia/Shanghai"  # the hall's; quiet hours and volume are hall-local times
    quiet_hours: tuple[tuple[time, time], ...] = ()  # [start, end): calls are not spoken
    volume: tuple[tuple[time, int], ...] = ()  # from this time on, this volume in percent
    clips_dir: Path | None = None  # recorded-clip mode: the hall's own WAV clips
    # An emergency's (or drill's) message is spoken again this often while it lasts.
    emergency_repeat_s: float = 60.0


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """One device in the hall: its model's profile and where it is (window, port, address)."""

    id: str
    profile: DeviceProfile
    window: str | None
    port: str | None  # serial device path or URL, evdev path; relative: inside the data dir
    address: int
    pins: Mapping[str, int]
    remotes: Mapping[int, str]
    transfer_to: str | None = None  # the window a call pad's transfer key sends tickets to
    kiosk: str | None = None  # the kiosk a printer, card reader or scanner is part of
    zone: str | None = None  # the speaker zone an announcer speaks in (None: every window)


def resolve_port(port: str, data_dir: Path) -> str:
    """A port as transports open it: URLs and absolute paths as given, others inside data_dir."""
    if "://" in port or Path(port).is_absolute():
        return port
    return str(data_dir / port)


# --- drivers: the table from profile data to codec settings -------------------------------------


@dataclass(frozen=True, slots=True)
class _Driver:
    kind: DeviceKind
    transports: tuple[TransportKind, ...]
    codec_keys: tuple[str, ...]
    read: Callable[[Reader, Table, str], Codec | None]


_FRAMING_KEYS = (
    "header",
    "tail",
    "address_size",
    "command_size",
    "length_size",
    "length_big_endian",
    "length_counts",
    "checksum",
    "checksum_from",
    "escape_byte",
    "escape_xor",
    "escaped",
    "max_payload",
)
_BOOL = Kind("true or false", boolean_value)
_TEXT = Kind("a non-empty string", text_value)
_ENCODING = choice(("gb2312", "gbk"))
_ACTION = choice(KEY_ACTIONS)
_SCORE = integer(1, 5, "a score from 1 (非常不满意) to 5 (非常满意)")
_WIDTH = integer(1, 64, "a number of characters from 1 to 64")


def _read_framing(r: Reader, t: Table, path: str) -> Framing | None:
    ok = len(r.issues)
    header = r.required(t, path, "header", HEX_BYTES)
    tail = r.optional(t, path, "tail", HEX_BYTES, b"")
    address_size = r.optional(t, path, "address_size", integer(0, 2, "0, 1 or 2"), 1)
    command_size = r.optional(t, path, "command_size", integer(0, 1, "0 or 1"), 1)
    length_size = r.optional(t, path, "length_size", integer(0, 2, "0, 1 or 2"), 1)
    big_endian = r.optional(t, path, "length_big_endian", _BOOL, True)
    counts = r.optional(t, path, "length_counts", choice(("payload", "frame")), "payload")
    checksum = r.optional(t, path, "checksum", choice(tuple(CHECKSUMS)), "sum8")
    checksum_from = r.optional(t, path, "checksum_from", choice(("address", "header")), "address")
    escape_byte = r.optional(t, path, "escape_byte", BYTE, -1)
    escape_xor = r.optional(t, path, "escape_xor", BYTE, 0)
    escaped = r.optional(t, path, "escaped", HEX_BYTES, b"")
    max_payload = r.optional(t, path, "max_payload", integer(1, 1024, "1 to 1024 bytes"), 255)
    if header is None or len(r.issues) > ok:
        return None
    framing = Framing(
        header=header,
        tail=tail,
        address_size=address_size,
        command_size=command_size,
        length_size=length_size,
        length_big_endian=big_endian,
        length_counts=counts,
        checksum=checksum,
        checksum_from=checksum_from,
        escape_byte=None if escape_byte < 0 else escape_byte,
        escape_xor=escape_xor,
        escaped=escaped,
        max_payload=max_payload,
    )
    problems = framing.validate()
    for problem in problems:
        r.report(path, problem)
    return None if problems else framing


def _int_keys(
    r: Reader, t: Table, path: str, name: str, value_kind: Kind[T]
) -> dict[int, T] | None:
    """A table of key codes (written "0x01" or "1") to values."""
    table = t.get(name)
    key_path = join_key(path, name)
    if not isinstance(table, dict) or not table:
        r.report(key_path, 'missing; expected a table of key codes such as { "0x01" = ... }')
        return None
    out: dict[int, T] = {}
    for code_text, value in table.items():
        try:
            code = int(code_text, 0)
        except ValueError:
            r.report(join_key(key_path, code_text), 'expected a key code such as "0x01" or "1"')
            continue
        converted = r.check(value, join_key(key_path, code_text), value_kind)
        if converted is not None:
            out[code] = converted
    return out


def _framed(r: Reader, t: Table, path: str) -> tuple[Framing | None, Table]:
    frame_table = r.table(t.get("framing"), join_key(path, "framing"), _FRAMING_KEYS, "a table")
    if frame_table is None:
        return None, {}
    return _read_framing(r, frame_table, join_key(path, "framing")), frame_table


def _read_led(r: Reader, t: Table, path: str) -> Codec | None:
    framing, _ = _framed(r, t, path)
    encoding = r.optional(t, path, "encoding", _ENCODING, "gb2312")
    show = r.required(t, path, "show_command", BYTE)
    blink = r.required(t, path, "blink_command", BYTE)
    clear = r.required(t, path, "clear_command", BYTE)
    width = r.required(t, path, "width", _WIDTH)
    if framing is None:
        return None
    if show is None or blink is None or clear is None or width is None:
        return None
    return LedBoardCodec(framing, encoding, show, blink, clear, width)


def _read_callpad(r: Reader, t: Table, path: str) -> Codec | None:
    framing, _ = _framed(r, t, path)
    encoding = r.optional(t, path, "encoding", _ENCODING, "gb2312")
    commands = {
        name: r.required(t, path, name, BYTE)
        for name in (
            "key_command",
            "text_command",
            "led_command",
            "beep_command",
            "ping_command",
            "pong_command",
        )
    }
    keys = _int_keys(r, t, path, "keys", _ACTION)
    width = r.optional(t, path, "text_width", _WIDTH, 8)
    if framing is None or keys is None or None in commands.values():
        return None
    c = {name: value for name, value in commands.items() if value is not None}
    return CallPadCodec(
        framing=framing,
        encoding=encoding,
        key_command=c["key_command"],
        keys=MappingProxyType({k: str(v) for k, v in keys.items()}),
        text_command=c["text_command"],
        led_command=c["led_command"],
        beep_command=c["beep_command"],
        ping_command=c["ping_command"],
        pong_command=c["pong_command"],
        text_width=width,
    )


def _read_rating(r: Reader, t: Table, path: str) -> Codec | None:
    framing, _ = _framed(r, t, path)
    names = (
        "key_command",
        "ask_command",
        "thanks_command",
        "idle_command",
        "ping_command",
        "pong_command",
    )
    commands = {name: r.required(t, path, name, BYTE) for name in names}
    scores = _int_keys(r, t, path, "scores", _SCORE)
    if framing is None or scores is None or None in commands.values():
        return None
    c = {name: value for name, value in commands.items() if value is not None}
    return RatingPadCodec(
        framing=framing,
        key_command=c["key_command"],
        scores=MappingProxyType({k: int(str(v)) for k, v in scores.items()}),
        ask_command=c["ask_command"],
        thanks_command=c["thanks_command"],
        idle_command=c["idle_command"],
        ping_command=c["ping_command"],
        pong_command=c["pong_command"],
    )


def _read_rf433(r: Reader, t: Table, path: str) -> Codec | None:
    key_bits = r.required(t, path, "key_bits", integer(1, 16, "1 to 16 bits"))
    keys = _int_keys(r, t, path, "keys", _ACTION)
    release = r.optional(t, path, "release_after", seconds(0.05, 5.0), 0.3)
    if key_bits is None or keys is None:
        return None
    layout = Rf433Layout(key_bits, MappingProxyType({k: str(v) for k, v in keys.items()}))
    return Rf433Settings(layout, release)


def _read_modbus(r: Reader, t: Table, path: str) -> Codec | None:
    register = integer(0, 0xFFFF, "a register address from 0 to 65535")
    number = r.required(t, path, "number_register", register)
    window = r.optional(t, path, "window_register", register, -1)
    blink = r.optional(t, path, "blink_register", register, -1)
    digits = r.required(t, path, "digits", integer(1, 8, "1 to 8 digits"))
    if number is None or digits is None:
        return None
    return ModbusDisplaySettings(
        NumericDisplayMap(
            number_register=number,
            window_register=None if window < 0 else window,
            blink_register=None if blink < 0 else blink,
            digits=digits,
        )
    )


def _named_actions(r: Reader, t: Table, path: str, name: str) -> dict[str, str] | None:
    table = t.get(name)
    key_path = join_key(path, name)
    if not isinstance(table, dict) or not table:
        r.report(key_path, "missing; expected a table of names to actions")
        return None
    out: dict[str, str] = {}
    for key, value in table.items():
        action = r.check(value, join_key(key_path, key), _ACTION)
        if action is not None:
            out[key] = action
    return out


def _read_gpio(r: Reader, t: Table, path: str) -> Codec | None:
    buttons = _named_actions(r, t, path, "buttons")
    bounce = r.optional(t, path, "bounce", seconds(0.005, 1.0), 0.05)
    if buttons is None:
        return None
    return GpioPadSettings(MappingProxyType(buttons), bounce)


def _read_keyboard(r: Reader, t: Table, path: str) -> Codec | None:
    keys = _named_actions(r, t, path, "keys")
    for key in keys or {}:
        if not key.startswith(("KEY_", "BTN_")):
            r.report(join_key(join_key(path, "keys"), key), 'expected an evdev key name "KEY_..."')
    if keys is None:
        return None
    return KeyboardPadSettings(MappingProxyType(keys))


def _read_hid(r: Reader, t: Table, path: str) -> Codec | None:
    usb_id = integer(0, 0xFFFF, "a USB id from 0x0000 to 0xFFFF")
    vendor = r.required(t, path, "vendor_id", usb_id)
    product = r.required(t, path, "product_id", usb_id)
    key_byte = r.optional(t, path, "key_byte", integer(0, 63, "a byte index from 0 to 63"), 2)
    keys = _int_keys(r, t, path, "keys", _ACTION)
    if vendor is None or product is None or keys is None:
        return None
    actions = MappingProxyType({k: str(v) for k, v in keys.items()})
    return HidPadSettings(vendor, product, key_byte, actions)


def _read_mqtt(r: Reader, t: Table, path: str) -> Codec | None:
    width = r.optional(t, path, "text_width", _WIDTH, 16)
    keys = t.get("keys", list(KEY_ACTIONS))
    actions: list[str] = []
    if not isinstance(keys, list):
        r.report(join_key(path, "keys"), "expected an array of key actions")
    else:
        for i, key in enumerate(keys):
            action = r.check(key, f"{join_key(path, 'keys')}[{i}]", _ACTION)
            if action is not None:
                actions.append(action)
    return MqttDeviceSettings(width, tuple(actions))


def _read_escpos(r: Reader, t: Table, path: str) -> Codec | None:
    widths = " or ".join(str(w) for w in PAPER_COLUMNS) + " (mm)"
    usb_id = integer(0, 0xFFFF, "a USB id from 0x0000 to 0xFFFF")
    ok = len(r.issues)
    width = r.required(t, path, "paper_width", integer(0, None, widths))
    if width is not None and width not in PAPER_COLUMNS:
        r.report(join_key(path, "paper_width"), f"expected {widths}, got {width}")
    encoding = r.required(t, path, "encoding", choice(ESCPOS_ENCODINGS))
    chinese_mode = r.optional(t, path, "chinese_mode", _BOOL, True)
    cutter = r.required(t, path, "cutter", _BOOL)
    module = r.optional(t, path, "qr_module_size", integer(1, 16, "1 to 16 dots"), 6)
    status_s = r.optional(t, path, "status_timeout", seconds(0.1, 2.0), 0.4)
    print_s = r.optional(t, path, "print_timeout", seconds(1.0, 60.0), 10.0)
    vendor = r.optional(t, path, "vendor_id", usb_id, -1)
    product = r.optional(t, path, "product_id", usb_id, -1)
    if (vendor < 0) != (product < 0):
        r.report(path, "give both vendor_id and product_id, or neither")
    profile = r.optional(t, path, "escpos_profile", _TEXT, "default")
    enc = next((e for e in ESCPOS_ENCODINGS if e == encoding), None)
    if len(r.issues) > ok or width is None or enc is None or cutter is None:
        return None
    return EscposSettings(
        paper_width=width,
        encoding=enc,
        chinese_mode=chinese_mode,
        cutter=cutter,
        qr_module_size=module,
        status_timeout_s=status_s,
        print_timeout_s=print_s,
        escpos_profile=profile,
        vendor_id=None if vendor < 0 else vendor,
        product_id=None if product < 0 else product,
    )


def _read_sam_idcard(r: Reader, t: Table, path: str) -> Codec | None:
    poll = r.optional(t, path, "poll", seconds(0.05, 10.0), 0.5)
    reply = r.optional(t, path, "reply_timeout", seconds(0.05, 10.0), 1.0)
    read = r.optional(t, path, "read_timeout", seconds(0.1, 30.0), 3.0)
    return SamIdCardSettings(poll, reply, read)


_NUMBER_FORMATS = ("ascii", "bcd")


def _apdu_problem(apdu: bytes) -> str | None:
    """Why `apdu` is no command APDU (ISO 7816-4 short cases 1 to 4), or None."""
    if len(apdu) < 4:
        return "an APDU has at least 4 bytes: CLA INS P1 P2"
    if len(apdu) <= 5:
        return None  # case 1, or case 2 with Le
    if len(apdu) - 5 not in (apdu[4], apdu[4] + 1):
        return f"Lc says {apdu[4]} data bytes but {len(apdu) - 5} follow"
    return None


def _read_pcsc_card(r: Reader, t: Table, path: str) -> Codec | None:
    ok = len(r.issues)
    reader = r.optional(t, path, "reader", _TEXT, "")
    apdus: list[bytes] = []
    listed = t.get("apdus")
    apdus_path = join_key(path, "apdus")
    if not isinstance(listed, list) or not listed:
        r.report(apdus_path, 'missing; expected an array of APDUs in hex, e.g. ["00 B2 07 04 00"]')
    else:
        for i, item in enumerate(listed):
            apdu = r.check(item, f"{apdus_path}[{i}]", HEX_BYTES)
            if apdu is None:
                continue
            problem = _apdu_problem(apdu)
            if problem is not None:
                r.report(f"{apdus_path}[{i}]", problem)
            apdus.append(apdu)
    tag = r.optional(t, path, "number_tag", BYTE, -1)
    offset = r.optional(t, path, "number_offset", integer(0, 255, "a byte offset 0 to 255"), 0)
    length = r.optional(t, path, "number_length", integer(1, 255, "1 to 255 bytes"), -1)
    if tag >= 0 and ("number_offset" in t or "number_length" in t):
        r.report(path, "give number_tag, or number_offset and number_length, not both")
    number_format = r.optional(t, path, "number_format", choice(_NUMBER_FORMATS), "ascii")
    poll = r.optional(t, path, "poll", seconds(0.05, 10.0), 1.0)
    reply = r.optional(t, path, "reply_timeout", seconds(0.05, 30.0), 2.0)
    if len(r.issues) > ok:
        return None
    return PcscCardSettings(
        reader=reader,
        apdus=tuple(apdus),
        number_tag=None if tag < 0 else tag,
        number_offset=offset,
        number_length=None if length < 0 else length,
        number_format=number_format,
        poll_s=poll,
        reply_timeout_s=reply,
    )


def _read_scanner(r: Reader, t: Table, path: str) -> Codec | None:
    return ScannerSettings(
        end_on_tab=r.optional(t, path, "end_on_tab", _BOOL, False),
        encoding=r.optional(t, path, "encoding", choice(("utf-8", "gbk", "gb18030")), "utf-8"),
    )


# The announcer's languages and the espeak-ng voice of each (plain "cmn" reads 请 and 号 as
# English-spelled pinyin).
_DEFAULT_VOICES = {"zh": "cmn-latn-pinyin", "en": "en-us", "yue": "yue"}
_TTS_KEYS = (*(f"voice_{language}" for language in _DEFAULT_VOICES), "rate", "player", "chime")
_PLAYER_EXPECTED = 'expected "file" or a command such as ["aplay", "-q", "{file}"]'


def _read_player(r: Reader, t: Table, path: str) -> tuple[str, ...] | None:
    value = t.get("player", ["aplay", "-q", "{file}"])
    if value == "file":
        return None
    if (
        isinstance(value, list)
        and value
        and all(isinstance(part, str) and part for part in value)
        and any("{file}" in part for part in value)
    ):
        return tuple(str(part) for part in value)
    r.report(join_key(path, "player"), _PLAYER_EXPECTED)
    return None


def _read_tts_speaker(r: Reader, t: Table, path: str) -> Codec | None:
    voices = {
        language: r.optional(t, path, f"voice_{language}", _TEXT, voice)
        for language, voice in _DEFAULT_VOICES.items()
    }
    rate = r.optional(t, path, "rate", integer(80, 450, "words per minute, 80 to 450"), 150)
    player = _read_player(r, t, path)
    chime: Path | None = None
    chime_name = r.optional(t, path, "chime", _TEXT, "")
    if chime_name:
        # A relative chime is next to the profile.
        chime = Path(r.file).parent / chime_name
        if not chime.is_file():
            r.report(join_key(path, "chime"), f"no such WAV file: {chime}")
    return TtsSpeakerSettings(MappingProxyType(voices), rate, player, chime)


_VOICE_MODULE_KEYS = (
    "encoding",
    "gbk_fallback",
    "checksum",
    "music",
    "max_text",
    "busy_timeout",
    "poll_every",
    "answer_timeout",
    "chime_text",
    "volume_steps",
)


def _read_voice_module(r: Reader, t: Table, path: str) -> Codec | None:
    codec = VoiceModuleCodec(
        checksum=r.optional(t, path, "checksum", _BOOL, True),
        encoding=r.optional(t, path, "encoding", choice(tuple(VOICE_ENCODINGS)), "gb2312"),
        gbk_fallback=r.optional(t, path, "gbk_fallback", _BOOL, True),
        music=r.optional(t, path, "music", integer(0, 15, "0 (no music) to 15"), 0),
        max_text=r.optional(t, path, "max_text", integer(1, 4096, "1 to 4096 bytes"), 200),
    )
    for problem in codec.validate():
        r.report(path, problem)
    return VoiceModuleSettings(
        codec=codec,
        busy_timeout_s=r.optional(t, path, "busy_timeout", seconds(1.0, 300.0), 30.0),
        poll_every_s=r.optional(t, path, "poll_every", seconds(0.02, 5.0), 0.2),
        answer_timeout_s=r.optional(t, path, "answer_timeout", seconds(0.05, 5.0), 0.5),
        chime_text=r.optional(t, path, "chime_text", _TEXT, ""),
        volume_steps=r.optional(
            t, path, "volume_steps", integer(0, 100, "0 (no volume marks) to 100"), 16
        ),
    )


_DRIVERS: Mapping[str, _Driver] = MappingProxyType(
    {
        "framed_led": _Driver(
            "window_display",
            ("serial",),
            ("framing", "encoding", "show_command", "blink_command", "clear_command", "width"),
            _read_led,
        ),
        "modbus_numeric": _Driver(
            "window_display",
            ("serial",),
            ("number_register", "window_register", "blink_register", "digits"),
            _read_modbus,
        ),
        "framed_callpad": _Driver(
            "call_pad",
            ("serial",),
            (
                "framing",
                "encoding",
                "key_command",
                "text_command",
                "led_command",
                "beep_command",
                "ping_command",
                "pong_command",
                "keys",
                "text_width",
            ),
            _read_callpad,
        ),
        "rf433_receiver": _Driver(
            "call_pad", ("serial",), ("key_bits", "keys", "release_after"), _read_rf433
        ),
        "framed_rating": _Driver(
            "rating_pad",
            ("serial",),
            (
                "framing",
                "key_command",
                "ask_command",
                "thanks_command",
                "idle_command",
                "ping_command",
                "pong_command",
                "scores",
            ),
            _read_rating,
        ),
        "gpio_buttons": _Driver("call_pad", ("gpio",), ("buttons", "bounce"), _read_gpio),
        "keyboard_keys": _Driver("call_pad", ("evdev",), ("keys",), _read_keyboard),
        "hid_keys": _Driver(
            "call_pad", ("usb",), ("vendor_id", "product_id", "key_byte", "keys"), _read_hid
        ),
        "mqtt_callpad": _Driver("call_pad", ("mqtt",), ("text_width", "keys"), _read_mqtt),
        "mqtt_display": _Driver("window_display", ("mqtt",), ("text_width",), _read_mqtt),
        "mqtt_rating": _Driver("rating_pad", ("mqtt",), ("text_width",), _read_mqtt),
        "tts_speaker": _Driver("announcer", ("audio",), _TTS_KEYS, _read_tts_speaker),
        "voice_module": _Driver("announcer", ("serial",), _VOICE_MODULE_KEYS, _read_voice_module),
        "keyboard_scanner": _Driver("code_scanner", ("evdev",), ("end_on_tab",), _read_scanner),
        "serial_scanner": _Driver("code_scanner", ("serial",), ("encoding",), _read_scanner),
        "sam_idcard": _Driver(
            "card_reader",
            ("serial",),
            ("poll", "reply_timeout", "read_timeout"),
            _read_sam_idcard,
        ),
        "pcsc_card": _Driver(
            "card_reader",
            ("pcsc",),
            (
                "reader",
                "apdus",
                "number_tag",
                "number_offset",
                "number_length",
                "number_format",
                "poll",
                "reply_timeout",
            ),
            _read_pcsc_card,
        ),
        "escpos": _Driver(
            "ticket_printer",
            ("serial", "usb", "tcp"),
            (
                "paper_width",
                "encoding",
                "chinese_mode",
                "cutter",
                "qr_module_size",
                "status_timeout",
                "print_timeout",
                "vendor_id",
                "product_id",
                "escpos_profile",
            ),
            _read_escpos,
        ),
    }
)
DRIVERS: tuple[str, ...] = tuple(_DRIVERS)

_TOP_KEYS = ("device", "transport", "codec", "timeouts", "display", "quirks")
_DEVICE_KEYS = ("kind", "model", "driver")
_TRANSPORT_KEYS = ("type", "baudrate", "bytesize", "parity", "stopbits")
_TIMEOUT_KEYS = ("open", "write", "watchdog", "ping_every", "refresh_every")
_DISPLAY_KEYS = ("text", "paused_text", "feedback")


def _read_serial(r: Reader, t: Table, path: str) -> SerialSettings:
    baud = integer(1200, 921600, "a baud rate such as 9600 or 115200")
    return SerialSettings(
        baudrate=r.optional(t, path, "baudrate", baud, 9600),
        bytesize=r.optional(t, path, "bytesize", integer(5, 8, "5 to 8 data bits"), 8),
        parity=r.optional(t, path, "parity", choice(("N", "E", "O")), "N"),
        stopbits=float(r.optional(t, path, "stopbits", integer(1, 2, "1 or 2 stop bits"), 1)),
    )


def _read_timeouts(r: Reader, data: Table) -> Timeouts:
    t = r.table(data.get("timeouts", {}), "timeouts", _TIMEOUT_KEYS, "a table")
    if t is None:
        return Timeouts()
    d = Timeouts()
    return Timeouts(
        open_s=r.optional(t, "timeouts", "open", seconds(0.05, 30.0), d.open_s),
        write_s=r.optional(t, "timeouts", "write", seconds(0.05, 10.0), d.write_s),
        watchdog_s=r.optional(
            t, "timeouts", "watchdog", seconds(0.5, 600.0, allow_zero=True), d.watchdog_s
        ),
        ping_every_s=r.optional(
            t, "timeouts", "ping_every", seconds(0.1, 300.0, allow_zero=True), d.ping_every_s
        ),
        refresh_every_s=r.optional(
            t, "timeouts", "refresh_every", seconds(0.1, 3600.0, allow_zero=True), 0.0
        ),
    )


def _read_profile(data: Table, r: Reader, profile_id: str) -> DeviceProfile | None:
    top = r.table(data, "", _TOP_KEYS, "a table")
    if top is None:
        return None
    device = r.table(data.get("device"), "device", _DEVICE_KEYS, "a [device] table")
    transport = r.table(data.get("transport"), "transport", _TRANSPORT_KEYS, "a [transport] table")
    if device is None or transport is None:
        return None
    kind = r.required(device, "device", "kind", choice(KINDS))
    model = r.required(device, "device", "model", _TEXT)
    driver_name = r.required(device, "device", "driver", choice(DRIVERS))
    transport_kind = r.required(transport, "transport", "type", choice(TRANSPORTS))
    driver = _DRIVERS.get(driver_name or "")
    codec: Codec | None = None
    if driver is not None:
        if kind is not None and kind != driver.kind:
            r.report("device.kind", f'the driver "{driver_name}" drives a {driver.kind}')
        if transport_kind is not None and transport_kind not in driver.transports:
            allowed = " or ".join(quote(name) for name in driver.transports)
            r.report("transport.type", f'the driver "{driver_name}" works over {allowed}')
        codec_table = r.table(data.get("codec", {}), "codec", driver.codec_keys, "a [codec] table")
        if codec_table is not None:
            codec = driver.read(r, codec_table, "codec")
    serial = _read_serial(r, transport, "transport") if transport_kind == "serial" else None
    if transport_kind != "serial":
        for name in _TRANSPORT_KEYS[1:]:
            if name in transport:
                r.report(join_key("transport", name), "only serial transports have line settings")
    timeouts = _read_timeouts(r, data)
    display = r.table(data.get("display", {}), "display", _DISPLAY_KEYS, "a table") or {}
    show_text = r.optional(display, "display", "text", _TEXT, "{ticket}")
    if "{ticket}" not in show_text:
        r.report("display.text", 'expected a text containing "{ticket}", such as "请{ticket}号"')
    paused_text = r.optional(display, "display", "paused_text", _TEXT, "暂停服务")
    feedback = r.optional(display, "display", "feedback", _BOOL, True)
    quirks = data.get("quirks", {})
    if not isinstance(quirks, dict):
        r.report("quirks", "expected a table")
        quirks = {}
    if r.issues or codec is None or model is None or driver_name is None:
        return None
    kind_name = next((k for k in KINDS if k == kind), None)
    transport_name = next((k for k in TRANSPORTS if k == transport_kind), None)
    if kind_name is None or transport_name is None:
        return None
    return DeviceProfile(
        id=profile_id,
        file=r.file,
        kind=kind_name,
        model=model,
        driver=driver_name,
        transport=transport_name,
        codec=codec,
        serial=serial,
        timeouts=timeouts,
        show_text=show_text,
        paused_text=paused_text,
        feedback=feedback,
        quirks=MappingProxyType(dict(quirks)),
    )


def validate_profile_text(text: str, file: str) -> DeviceProfile:
    """Validate profile TOML `text` as if read from `file`; raise ConfigError with every problem."""
    r = Reader(file)
    profile = _read_profile(parse_toml(text, file), r, Path(file).stem)
    if profile is None:
        raise ConfigError(tuple(r.issues) or (ConfigIssue(file, "", "not a device profile"),))
    return profile


def check_profile_text(text: str, file: str) -> tuple[DeviceProfile | None, tuple[str, ...]]:
    """The profile in `text` and no problems; or None and every problem as a
    `file: key: message` line (with a did-you-mean for a misspelt key)."""
    try:
        return validate_profile_text(text, file), ()
    except ConfigError as exc:
        return None, tuple(str(issue) for issue in exc.issues)


# A hall config's `[profiles] dir` when it names none, relative to the config's own folder.
DEFAULT_PROFILES_DIR = "../device_profiles"


def profiles_folder(config_file: Path) -> Path:
    """The folder a hall config reads its device profiles from (its `[profiles] dir`, against
    the config's own folder); the default folder when the file or the key is not there."""
    relative: object = DEFAULT_PROFILES_DIR
    try:
        table = read_toml(config_file).get("profiles", {})
    except ConfigError:
        table = {}
    if isinstance(table, dict) and isinstance(table.get("dir"), str) and table["dir"]:
        relative = table["dir"]
    return (config_file.parent / str(relative)).resolve()


def load_profiles(directory: Path) -> dict[str, DeviceProfile]:
    """Every `*.toml` profile in `directory` by its id (the file name without .toml)."""
    issues: list[ConfigIssue] = []
    profiles: dict[str, DeviceProfile] = {}
    if not directory.is_dir():
        raise ConfigError((ConfigIssue(str(directory), "", "no such profile directory"),))
    for path in sorted(directory.glob("*.toml")):
        r = Reader(str(path))
        try:
            profile = _read_profile(read_toml(path), r, path.stem)
        except ConfigError as exc:
            issues.extend(exc.issues)
            continue
        issues.extend(r.issues)
        if profile is not None:
            profiles[profile.id] = profile
    if issues:
        raise ConfigError(tuple(issues))
    return profiles
