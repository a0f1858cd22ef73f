"""PC/SC contact cards through a real pcscd: the vpcd virtual reader and a virtual social
security card (virtual_card.py), read by PcscReader (pyscard on its own thread) and by the
PcscCardReader adapter built from the shipped profile.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import MappingProxyType

import pytest

from hall_controller.devices.base import DeviceContext
from hall_controller.devices.card_readers import PcscCardReader
from hall_controller.devices.health import DeviceState
from hall_controller.devices.model import CardPresented, ContactCard, DeviceInput
from hall_controller.profiles import DeviceConfig, PcscCardSettings, load_profiles
from hall_controller.transports import pcsc
from hall_controller.transports.backoff import Backoff
from hall_controller.transports.errors import LinkDown, LinkTimeout
from hall_controller.transports.pcsc import CardGone, PcscReader

from pcsc_fixture import READER, Pcscd, running_pcscd, wait_until_empty
from virtual_card import ATR, SocialSecurityCard, VirtualCard
from waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

ROOT = Path(__file__).resolve().parent.parent
PROFILE = load_profiles(ROOT / "device_profiles")["pcsc-social-security"]
SLOT = f"{READER} 00 00"  # vpcd's first slot, where the virtual card goes
WAIT_S = 5.0
SLOW_S = 15.0  # pcscd restarts and polls its readers every 400 ms
SELECT_SSSE = bytes.fromhex("00 A4 04 00 0F 7378312E73682EC9E7BBE1B1A3D5CF")


@pytest.fixture(scope="module")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pcscd]:
    with running_pcscd(tmp_path_factory.mktemp("pcscd")) as daemon:
        yield daemon


@pytest.fixture
def card(pcscd: Pcscd) -> Iterator[VirtualCard]:
    """A social security card (not yet inserted) for vpcd's first slot."""
    virtual = VirtualCard(SocialSecurityCard(card_number="A12345678"), pcscd.port)
    yield virtual
    virtual.remove()
    wait_until_empty(SLOT)


@pytest.fixture
async def reader(pcscd: Pcscd) -> AsyncIterator[PcscReader]:
    link = PcscReader(SLOT)
    await link.open(WAIT_S)
    yield link
    await link.close()


def pcsc_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("pcsc ")]


async def test_the_reader_reads_a_card_through_pcscd(reader: PcscReader, card: VirtualCard) -> None:
    assert reader.reader == SLOT
    with pytest.raises(LinkTimeout):
        await reader.wait_for(True, 0.3)  # the reader is empty
    card.insert()
    slot = await reader.wait_for(True, WAIT_S)
    assert slot.atr == ATR
    assert await reader.connect_card(WAIT_S) == ATR
    assert await reader.transmit(SELECT_SSSE, WAIT_S) == b"\x90\x00"
    assert await reader.transmit(bytes.fromhex("00 A4 02 00 02 EF05"), WAIT_S) == b"\x90\x00"
    record = await reader.transmit(bytes.fromhex("00 B2 07 04 00"), WAIT_S)
    assert record == bytes.fromhex("07 09") + b"A12345678" + b"\x90\x00"
    card.remove()
    with pytest.raises(CardGone):
        await reader.transmit(SELECT_SSSE, WAIT_S)
    await reader.release_card(WAIT_S)
    assert not (await reader.wait_for(False, WAIT_S)).present


async def test_a_reader_that_is_not_there_is_named_with_those_that_are(pcscd: Pcscd) -> None:
    link = PcscReader("ACR39U")
    with pytest.raises(LinkDown, match="no reader named like 'ACR39U'") as caught:
        await link.open(WAIT_S)
    assert SLOT in str(caught.value)
    assert link.state.value == "down"
    assert pcsc_threads() == []  # the failed open let its thread go


class BusyPcscd:
    """pyscard as open() and close() use it, with a pcscd slow to answer SCardCancel."""

    SCARD_SCOPE_USER = 0
    SCARD_LEAVE_CARD = 0

    def SCardEstablishContext(self, scope: int) -> tuple[int, int]:
        return 0, 1

    def SCardListReaders(self, context: int, groups: list[str]) -> tuple[int, list[str]]:
        return 0, ["Busy Reader 00 00"]

    def SCardCancel(self, context: int) -> int:
        time.sleep(0.5)
        return 0

    def SCardReleaseContext(self, context: int) -> int:
        return 0


async def test_close_asks_pcscd_to_cancel_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pcsc, "scard", BusyPcscd())
    link = PcscReader("Busy")
    await link.open(WAIT_S)
    loop = asyncio.get_running_loop()
    gaps: list[float] = []

    async def tick() -> None:
        while True:
            before = loop.time()
            await asyncio.sleep(0.01)
            gaps.append(loop.time() - before)

    ticker = asyncio.create_task(tick())
    await link.close()
    ticker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await ticker
    assert max(gaps) < 0.25  # the loop went on while pcscd took its time
    assert pcsc_threads() == []


@dataclasses.dataclass
class Inputs:
    submitted: list[DeviceInput] = dataclasses.field(default_factory=list)
    states: list[DeviceState] = dataclasses.field(default_factory=list)

    def context(self) -> DeviceContext:
        return DeviceContext(
            clock=time.time,
            submit=lambda item, _device: self.submitted.append(item),
            state_changed=lambda device: self.states.append(device.health.state),
        )


def adapter_config(**codec: object) -> DeviceConfig:
    settings = PROFILE.codec
    assert isinstance(settings, PcscCardSettings)
    fast = dataclasses.replace(settings, **{"reader": SLOT, "poll_s": 0.3, **codec})  # type: ignore[arg-type]
    return DeviceConfig(
        id="k2-sscard",
        profile=dataclasses.replace(PROFILE, codec=fast),
        window=None,
        port=None,
        address=0,
        pins=MappingProxyType({}),
        remotes=MappingProxyType({}),
        kiosk="K2",
    )


@pytest.fixture
async def adapter(pcscd: Pcscd) -> AsyncIterator[tuple[PcscCardReader, Inputs]]:
    inputs = Inputs()
    device = PcscCardReader(
        adapter_config(), inputs.context(), backoff=Backoff(initial_s=0.2, cap_s=1.0)
    )
    await device.start()
    yield device, inputs
    await device.stop()
    assert pcsc_threads() == []


def presented(number: str | None) -> CardPresented:
    return CardPresented("k2-sscard", "K2", ContactCard(ATR.hex().upper(), number))


async def test_each_insertion_is_handed_over_once_with_atr_and_number(
    adapter: tuple[PcscCardReader, Inputs], card: VirtualCard
) -> None:
    device, inputs = adapter
    await eventually(lambda: device.ready, "pcscd lists the reader")
    assert device.health.where == SLOT
    card.insert()
    await eventually(lambda: len(inputs.submitted) == 1, "the card is handed over")
    assert inputs.submitted == [presented("A12345678")]
    # It stays in: pcscd keeps checking it is there, nobody reads it again.
    polls = card.polls
    await eventually(lambda: card.polls >= polls + 3, "three presence checks", SLOW_S)
    assert len(card.card.apdus) == 3
    assert len(inputs.submitted) == 1

    card.remove()  # and straight back in, before pcscd's next check
    card.insert()
    await eventually(lambda: len(inputs.submitted) == 2, "read again after re-insertion")
    assert inputs.submitted[1] == presented("A12345678")
    assert device.health.last_frame_in == "SW 90 00"
    assert "A12345678" not in repr(device.health.view())
    assert device.health.errors == 0


async def test_a_card_without_the_social_security_files_gives_its_atr_only(
    pcscd: Pcscd,
) -> None:
    other = SocialSecurityCard()
    other.files.clear()  # EF05 missing: SELECT answers 6A 82
    virtual = VirtualCard(other, pcscd.port)
    inputs = Inputs()
    device = PcscCardReader(adapter_config(), inputs.context())
    await device.start()
    try:
        virtual.insert()
        await eventually(lambda: len(inputs.submitted) == 1, "the card is handed over")
        assert inputs.submitted == [presented(None)]
        assert device.health.last_frame_in == "SW 6A 82"
    finally:
        virtual.remove()
        await device.stop()
        await asyncio.to_thread(wait_until_empty, SLOT)


async def test_pcscd_stopped_loses_the_reader_and_its_return_brings_it_back(
    pcscd: Pcscd, adapter: tuple[PcscCardReader, Inputs], card: VirtualCard
) -> None:
    device, inputs = adapter
    await eventually(lambda: device.ready, "pcscd lists the reader")
    card.insert()
    await eventually(lambda: len(inputs.submitted) == 1, "the card is handed over")

    await asyncio.to_thread(pcscd.stop)
    await eventually(lambda: device.health.state is DeviceState.LOST, "lost", SLOW_S)
    assert "waiting for a card" in (device.health.last_error or "")

    await asyncio.to_thread(pcscd.start)
    await eventually(lambda: device.ready, "back with pcscd", SLOW_S)
    # The card still in the reader is a new insertion for the new pcscd: read again.
    await eventually(lambda: len(inputs.submitted) == 2, "the card is read again", SLOW_S)
    assert inputs.submitted[1] == presented("A12345678")
    assert device.health.reconnects == 1
    assert inputs.states[-1] is DeviceState.READY
