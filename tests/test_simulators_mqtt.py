"""Simulated MQTT devices against a real Mosquitto: presence, keys, commands, snapshots, crashes,
and the controller's own MQTT device adapters talking to them."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mqtt_broker import Mosquitto

from hall_controller.devices.base import Device, DeviceContext
from hall_controller.devices.health import DeviceState
from hall_controller.devices.model import DeviceInput, KeyPressed, RatingGiven, WindowShowing
from hall_controller.devices.mqtt_devices import (
    MqttCallPad,
    MqttDevice,
    MqttGateway,
    MqttRatingPad,
    MqttWindowDisplay,
)
from hall_controller.profiles import DeviceConfig, load_profiles
from hall_controller.protocols import mqtt_tree
from hall_controller.protocols.mqtt_tree import Topics
from hall_controller.simulators.mqtt_peers import (
    Broker,
    MqttCallPadPeer,
    MqttPeer,
    MqttRatingPadPeer,
    MqttWindowDisplayPeer,
    PeerModel,
)
from hall_controller.transports.errors import LinkDown
from hall_controller.transports.mqtt import Message, MqttLink

from waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

ROOT = Path(__file__).resolve().parent.parent
PROFILES = load_profiles(ROOT / "device_profiles")
HALL = "h1"
TOPICS = Topics(HALL)
WAIT_S = 5.0


class Inbox:
    """A subscription handler that keeps what arrives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def __call__(self, message: Message) -> None:
        self.messages.append(message)

    def payloads(self, topic: str) -> list[bytes]:
        return [m.payload for m in self.messages if m.topic == topic]


@pytest.fixture
async def watcher(mosquitto: Mosquitto) -> AsyncIterator[tuple[MqttLink, Inbox]]:
    """A client that plays the controller's side: sees every device message, can publish."""
    link = MqttLink(mosquitto.host, mosquitto.port, "watcher", persistent_session=False)
    inbox = Inbox()
    link.subscribe(f"hall/{HALL}/device/#", 1, inbox)
    await link.start(WAIT_S)
    yield link, inbox
    await link.stop(WAIT_S)


@pytest.fixture
def broker(mosquitto: Mosquitto) -> Broker:
    return Broker(HALL, mosquitto.host, mosquitto.port)


async def started(peer: MqttPeer) -> MqttPeer:
    await peer.start(WAIT_S)
    await eventually(lambda: peer.online, f"{peer.device_id} online")
    return peer


def command(link: MqttLink, device_id: str, name: str, data: dict[str, object]) -> None:
    link.publish(TOPICS.device_cmd(device_id, name), mqtt_tree.encode_cmd(name, data), qos=1)


async def test_device_announces_ready_and_meta_and_its_will_says_lost(
    broker: Broker, watcher: tuple[MqttLink, Inbox]
) -> None:
    _, inbox = watcher
    model = PeerModel("MQTT call pad (topic tree v1)", "mqtt-callpad")
    pad = MqttCallPadPeer("pad-1", broker, model)
    await started(pad)
    try:
        state, meta = TOPICS.device_state("pad-1"), TOPICS.device_meta("pad-1")
        await eventually(lambda: inbox.payloads(state) == [b"ready"], "ready")
        await eventually(lambda: inbox.payloads(meta), "$meta")
        assert json.loads(inbox.payloads(meta)[0])["kind"] == "call_pad"
        assert json.loads(inbox.payloads(meta)[0])["profile"] == "mqtt-callpad"

        started_at = time.monotonic()
        await pad.go_offline(WAIT_S)
        await eventually(lambda: inbox.payloads(state)[-1:] == [b"lost"], "the will")
        assert time.monotonic() - started_at < 3.0
        assert pad.view()["online"] is False
        with pytest.raises(LinkDown):
            await pad.press("call", WAIT_S)

        await pad.come_back(WAIT_S)
        await eventually(lambda: inbox.payloads(state)[-1:] == [b"ready"], "ready again")
        assert pad.online
    finally:
        await pad.stop(WAIT_S)
    await eventually(lambda: inbox.payloads(state)[-1:] == [b"lost"], "lost on switch-off")


async def test_retained_presence_is_what_a_late_controller_sees(
    broker: Broker, mosquitto: Mosquitto
) -> None:
    display = MqttWindowDisplayPeer("board-1", broker)
    await started(display)
    try:
        late = MqttLink(mosquitto.host, mosquitto.port, "late", persistent_session=False)
        inbox = Inbox()
        late.subscribe(TOPICS.device_states_filter(), 1, inbox)
        late.subscribe(TOPICS.device_meta("board-1"), 1, inbox)
        await late.start(WAIT_S)
        try:
            await eventually(lambda: len(inbox.messages) >= 2, "retained $state and $meta")
            assert {m.topic: m.retain for m in inbox.messages} == {
                TOPICS.device_state("board-1"): True,
                TOPICS.device_meta("board-1"): True,
            }
        finally:
            await late.stop(WAIT_S)
    finally:
        await display.stop(WAIT_S)


async def test_call_pad_keys_are_events_and_feedback_shows(
    broker: Broker, watcher: tuple[MqttLink, Inbox]
) -> None:
    link, inbox = watcher
    pad = MqttCallPadPeer("pad-1", broker, PeerModel(keys=("call", "finish")))
    await started(pad)
    try:
        await pad.press("call", WAIT_S)
        topic = TOPICS.device_event("pad-1", "key")
        await eventually(lambda: inbox.payloads(topic), "event/key")
        event = mqtt_tree.decode_event("key", inbox.payloads(topic)[0])
        assert event is not None
        assert dict(event.data) == {"key": "call"}
        with pytest.raises(ValueError, match="no 'pause' key"):
            await pad.press("pause", WAIT_S)

        command(link, "pad-1", "feedback", {"text": "A012", "led": True, "beep": 1})
        await eventually(lambda: pad.text == "A012", "feedback text")
        assert (pad.lamp, pad.beeps) == (True, 1)
        command(link, "pad-1", "feedback", {"beep": 3})  # text and lamp stay
        await eventually(lambda: pad.beeps == 4, "three more beeps")
        assert (pad.text, pad.lamp) == ("A012", True)
        link.publish(TOPICS.device_cmd("pad-1", "feedback"), b'{"beep": "loud"}', qos=1)
        await eventually(lambda: pad.rejected == 1, "a bad command is rejected")
    finally:
        await pad.stop(WAIT_S)


async def test_display_reads_its_retained_snapshot_then_follows_commands(
    broker: Broker, watcher: tuple[MqttLink, Inbox]
) -> None:
    link, _ = watcher
    snapshot = {
        "window": "3",
        "status": "serving",
        "showing": {"ticket": "A012", "window": "3", "text": "请A012号", "blink": False},
        "rating": "idle",
    }
    await link.publish_wait(
        TOPICS.device_snapshot("board-3"),
        mqtt_tree.encode_snapshot(snapshot),
        retain=True,
        timeout=WAIT_S,
    )
    display = MqttWindowDisplayPeer("board-3", broker, PeerModel(text_width=16))
    await started(display)
    try:
        await eventually(lambda: display.text == "请A012号", "the snapshot is shown")
        assert (display.ticket, display.blink, display.status) == ("A012", False, "serving")
        command(link, "board-3", "show", {"ticket": "A013", "window": "3", "blink": True})
        await eventually(lambda: display.ticket == "A013", "cmd/show")
        assert (display.text, display.blink) == ("A013", True)  # no text: the number
        command(link, "board-3", "clear", {})
        await eventually(lambda: display.text == "", "cmd/clear")
        assert display.view() == {
            "type": "window_display",
            "online": True,
            "text": "",
            "ticket": "",
            "window": "",
            "blink": False,
            "status": "serving",
        }
    finally:
        await display.stop(WAIT_S)


async def test_rating_pad_asks_takes_a_score_and_thanks(
    broker: Broker, watcher: tuple[MqttLink, Inbox]
) -> None:
    link, inbox = watcher
    pad = MqttRatingPadPeer("rate-1", broker)
    await started(pad)
    try:
        command(link, "rate-1", "ask_rating", {"ticket": "A012"})
        await eventually(lambda: pad.prompt == "asking", "asking")
        assert pad.ticket == "A012"
        await pad.rate(4, WAIT_S)
        topic = TOPICS.device_event("rate-1", "rating")
        await eventually(lambda: inbox.payloads(topic) == [b'{"score":4}'], "event/rating")
        command(link, "rate-1", "rating_done", {"ticket": ""})
        await eventually(lambda: pad.prompt == "thanks", "thanks")

        command(link, "rate-1", "ask_rating", {"ticket": "A013"})
        await eventually(lambda: pad.ticket == "A013", "asked again")
        command(link, "rate-1", "rating_done", {"ticket": ""})
        await eventually(lambda: pad.prompt == "idle", "no score: idle")
        with pytest.raises(ValueError, match=r"1\.\.5"):
            await pad.rate(6, WAIT_S)
        await pad.rate(2, WAIT_S)  # a real pad sends whatever is pressed
        assert pad.ratings == [(4, "asking"), (2, "idle")]
    finally:
        await pad.stop(WAIT_S)


# --- the controller's adapters against the simulated devices ------------------------------------


def config(device_id: str, profile: str, window: str = "3") -> DeviceConfig:
    return DeviceConfig(device_id, PROFILES[profile], window, None, 0, {}, {})


def showing(**changes: object) -> WindowShowing:
    base: dict[str, object] = {
        "window": "3",
        "status": "calling",
        "ticket": "A012",
        "ticket_id": "t-12",
        "blink": True,
        "call_count": 1,
        "rating": "idle",
        "rating_ticket": None,
        "rating_number": None,
    }
    base.update(changes)
    return WindowShowing(**base)  # type: ignore[arg-type]


async def test_controller_adapters_drive_the_simulated_devices(
    broker: Broker, mosquitto: Mosquitto
) -> None:
    inputs: list[DeviceInput] = []

    def submit(item: DeviceInput, device: Device) -> None:
        inputs.append(item)

    context = DeviceContext(time.time, submit, lambda device: None)
    link = MqttLink(mosquitto.host, mosquitto.port, "controller", persistent_session=False)
    devices: dict[str, MqttDevice] = {
        "pad": MqttCallPad(config("pad", "mqtt-callpad"), context, link, TOPICS),
        "board": MqttWindowDisplay(config("board", "mqtt-window-display"), context, link, TOPICS),
        "rate": MqttRatingPad(config("rate", "mqtt-rating-pad"), context, link, TOPICS),
    }
    gateway = MqttGateway(link, TOPICS, devices)
    gateway.start()
    await link.start(WAIT_S)
    peers = {
        "pad": MqttCallPadPeer("pad", broker),
        "board": MqttWindowDisplayPeer("board", broker, PeerModel(text_width=16)),
        "rate": MqttRatingPadPeer("rate", broker),
    }
    try:
        for peer in peers.values():
            await started(peer)
        await eventually(lambda: all(d.ready for d in devices.values()), "all announced")

        for device in devices.values():
            device.render(showing())
        board = peers["board"]
        assert isinstance(board, MqttWindowDisplayPeer)
        await eventually(lambda: board.text == "请A012号" and board.blink, "board shows A012")

        pad = peers["pad"]
        assert isinstance(pad, MqttCallPadPeer)
        await pad.press("finish", WAIT_S)
        await eventually(lambda: inputs, "the key reached the controller")
        assert inputs == [KeyPressed("pad", "3", "finish")]

        rating = showing(
            status="open",
            ticket=None,
            ticket_id=None,
            blink=False,
            rating="asking",
            rating_ticket="t-12",
            rating_number="A012",
        )
        for device in devices.values():
            device.render(rating)
        rate = peers["rate"]
        assert isinstance(rate, MqttRatingPadPeer)
        await eventually(lambda: rate.prompt == "asking" and rate.ticket == "A012", "asked")
        await eventually(lambda: board.text == "", "board cleared")
        await rate.rate(5, WAIT_S)
        await eventually(lambda: len(inputs) == 2, "the rating reached the controller")
        assert inputs[1] == RatingGiven("rate", "3", 5)

        await board.go_offline(WAIT_S)
        await eventually(
            lambda: devices["board"].health.state is DeviceState.LOST, "the controller sees lost"
        )
        devices["board"].render(showing(ticket="A020", blink=True, call_count=2))
        await board.come_back(WAIT_S)
        await eventually(lambda: devices["board"].ready, "the controller sees it back")
        await eventually(lambda: board.ticket == "A020", "the snapshot brings it up to date")
        assert board.blink is False
    finally:
        for peer in peers.values():
            await peer.stop(WAIT_S)
        await link.stop(WAIT_S)
        for device in devices.values():
            await device.stop()
