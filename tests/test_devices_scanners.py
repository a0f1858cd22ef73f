"""Code scanners: a code typed by a keyboard scanner or sent by a serial one reaches its kiosk."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import MappingProxyType

import pytest
from evdev import ecodes
from hypothesis import given
from hypothesis import strategies as st

from hall_controller.devices.base import Device, DeviceContext
from hall_controller.devices.health import DeviceState
from hall_controller.devices.model import CodeScanned, DeviceInput
from hall_controller.devices.scanners import KeyboardCodeScanner, SerialCodeScanner
from hall_controller.profiles import DeviceConfig, load_profiles
from hall_controller.protocols.scanner import MAX_CODE, KeystrokeDecoder, LineDecoder
from hall_controller.simulators.buses import SimulatedBus
from hall_controller.simulators.scanner import SerialScannerPeer
from hall_controller.transports.memory import memory_pair
from hall_controller.transports.pty import PtyPair

from fake_evdev import FakeInputDevice
from waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

PROFILES = load_profiles(Path(__file__).resolve().parent.parent / "device_profiles")
# An appointment-style code and a ticket QR code, both synthetic.
TICKET_URL = "http://127.0.0.1:8080/t/20261128-A012"


def scanner_config(profile: str, port: str) -> DeviceConfig:
    return DeviceConfig(
        id="k1-scanner",
        profile=PROFILES[profile],
        window=None,
        port=port,
        address=0,
        pins=MappingProxyType({}),
        remotes=MappingProxyType({}),
        kiosk="k1",
    )


class Inputs:
    """The hub's side: what the scanner submitted."""

    def __init__(self) -> None:
        self.codes: list[CodeScanned] = []
        self.context = DeviceContext(lambda: 0.0, self.submit, lambda device: None)

    def submit(self, item: DeviceInput, device: Device) -> None:
        assert isinstance(item, CodeScanned)
        self.codes.append(item)


# --- the pure decoders ---------------------------------------------------------------------


def keys_for(text: str) -> list[tuple[str, bool]]:
    """Key presses (name, shifted) a US-layout scanner sends for `text` (main block keys)."""
    main = {k: v for k, v in _layout().items() if not k.startswith("KEY_KP")}
    plain = {v[0]: k for k, v in main.items()}
    shifted = {v[1]: k for k, v in main.items() if v[0] != v[1]}
    return [(plain[c], False) if c in plain else (shifted[c], True) for c in text]


def _layout() -> dict[str, tuple[str, str]]:
    from hall_controller.protocols import scanner

    return scanner._KEYS


def type_into(decoder: KeystrokeDecoder, text: str) -> list[str]:
    codes = []
    for key, shifted in keys_for(text):
        if shifted:
            decoder.press("KEY_LEFTSHIFT")
        assert decoder.press(key) is None
        if shifted:
            decoder.release("KEY_LEFTSHIFT")
    code = decoder.press("KEY_ENTER")
    if code is not None:
        codes.append(code)
    return codes


def test_a_keyboard_scanner_url_comes_out_with_its_shifted_characters() -> None:
    decoder = KeystrokeDecoder()
    assert type_into(decoder, TICKET_URL) == [TICKET_URL]
    assert type_into(decoder, "Ab-12_Z?") == ["Ab-12_Z?"]


def test_a_shift_held_over_several_characters_shifts_them_all() -> None:
    decoder = KeystrokeDecoder()
    decoder.press("KEY_LEFTSHIFT")
    for key in ("KEY_A", "KEY_B", "KEY_1"):
        decoder.press(key)
    decoder.release("KEY_LEFTSHIFT")
    decoder.press("KEY_C")
    assert decoder.press("KEY_ENTER") == "AB!c"


def test_enter_alone_is_no_code_and_unknown_keys_are_counted_not_typed() -> None:
    decoder = KeystrokeDecoder()
    assert decoder.press("KEY_ENTER") is None
    decoder.press("KEY_F5")
    decoder.press("KEY_X")
    assert decoder.press("KEY_KPENTER") == "x"
    assert decoder.unknown_keys == 1
    assert KeystrokeDecoder(end_on_tab=True).press("KEY_TAB") is None


@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1))
def test_any_printable_ascii_code_survives_the_keyboard(text: str) -> None:
    assert type_into(KeystrokeDecoder(), text) == [text]


def test_serial_lines_end_on_cr_lf_or_crlf_and_blank_lines_are_no_code() -> None:
    decoder = LineDecoder()
    assert decoder.feed(b"ABC\r\n\r\nDEF\rGH") == ["ABC", "DEF"]
    assert decoder.feed(b"I\n") == ["GHI"]
    assert LineDecoder("gbk").feed("预约 A1\r".encode("gbk")) == ["预约 A1"]


def test_a_runaway_line_is_dropped_whole_and_the_next_line_reads() -> None:
    decoder = LineDecoder()
    assert decoder.feed(b"x" * (MAX_CODE + 50)) == []
    assert decoder.feed(b"tail-of-the-runaway\r\nNEXT\r\n") == ["NEXT"]
    assert decoder.overlong == 1


@given(st.binary(max_size=3000), st.integers(min_value=1, max_value=64))
def test_garbage_in_any_split_never_breaks_the_line_decoder(data: bytes, chunk: int) -> None:
    whole = LineDecoder("utf-8").feed(data + b"\n")
    split = LineDecoder("utf-8")
    codes: list[str] = []
    payload = data + b"\n"
    for start in range(0, len(payload), chunk):
        codes += split.feed(payload[start : start + chunk])
    assert codes == whole
    assert all(len(code) <= MAX_CODE for code in codes)


# --- the adapters ------------------------------------------------------------------------------


async def test_a_serial_scanner_on_a_pty_hands_each_code_to_its_kiosk(tmp_path: Path) -> None:
    pair = PtyPair(tmp_path / "ttyScanner").open()
    inputs = Inputs()
    scanner = SerialCodeScanner(
        scanner_config("scanner-serial", str(tmp_path / "ttyScanner")), inputs.context
    )
    peer = SerialScannerPeer()
    bus = SimulatedBus(pair.link, [peer], name="scanner")
    await bus.start()
    await scanner.start()
    try:
        await eventually(lambda: scanner.health.state is DeviceState.READY, "the scanner ready")
        bus.send(peer.scan(TICKET_URL))
        bus.send(peer.scan("APPT-0001"))
        await eventually(lambda: len(inputs.codes) == 2, "two codes")
        assert [(c.kiosk, c.code) for c in inputs.codes] == [
            ("k1", TICKET_URL),
            ("k1", "APPT-0001"),
        ]
        # The code itself (it may carry personal data) is not kept in health.
        assert "A012" not in str(scanner.health.view())

        pair.unplug()
        await eventually(lambda: scanner.health.state is DeviceState.LOST, "the scanner lost")
        pair.open()
        await eventually(
            lambda: scanner.health.state is DeviceState.READY, "the scanner back", within=8.0
        )
        bus.send(peer.scan("AFTER"))
        await eventually(lambda: inputs.codes[-1].code == "AFTER", "the code after the replug")
        assert peer.view() == {"scans": 3, "last_code_length": 5}
    finally:
        await scanner.stop()
        await bus.stop()
        pair.close()


async def test_a_serial_scanner_reads_codes_through_a_line_that_splits_and_delays() -> None:
    controller_end, scanner_end = memory_pair(chunk=1, delay_s=0.002)
    inputs = Inputs()
    scanner = SerialCodeScanner(
        scanner_config("scanner-serial", "/dev/ttyS9"),
        inputs.context,
        open_link=lambda: controller_end,
    )
    await scanner.start()
    try:
        await eventually(lambda: scanner.health.state is DeviceState.READY, "the scanner ready")
        await scanner_end.open(1.0)
        await scanner_end.write(SerialScannerPeer().scan(TICKET_URL), 1.0)
        await eventually(lambda: [c.code for c in inputs.codes] == [TICKET_URL], "the code")
    finally:
        await scanner.stop()


async def test_a_keyboard_scanner_is_grabbed_and_its_scan_reaches_the_kiosk(
    fake_evdev: type[FakeInputDevice],
) -> None:
    inputs = Inputs()
    scanner = KeyboardCodeScanner(
        scanner_config("scanner-usb-keyboard", "/dev/input/by-id/usb-scanner-event-kbd"),
        inputs.context,
    )
    await scanner.start()
    try:
        await eventually(lambda: bool(fake_evdev.made) and fake_evdev.made[0].grabbed, "the grab")
        keyboard = fake_evdev.made[0]
        events: list[tuple[int, int, int]] = []
        for key, shifted in keys_for("Ticket-A012"):
            code = ecodes.ecodes[key]
            if shifted:
                events.append((ecodes.EV_KEY, ecodes.KEY_LEFTSHIFT, 1))
            events += [(ecodes.EV_KEY, code, 1), (ecodes.EV_KEY, code, 0)]
            if shifted:
                events.append((ecodes.EV_KEY, ecodes.KEY_LEFTSHIFT, 0))
        events += [(ecodes.EV_KEY, ecodes.KEY_ENTER, 1), (ecodes.EV_KEY, ecodes.KEY_ENTER, 0)]
        keyboard.type(*events)
        await eventually(lambda: [c.code for c in inputs.codes] == ["Ticket-A012"], "the code")
        assert inputs.codes[0].kiosk == "k1"
    finally:
        await scanner.stop()
    await asyncio.sleep(0)
