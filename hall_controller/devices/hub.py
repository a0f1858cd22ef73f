"""All devices of a hall: built from profiles, fed the hall's state, keys turned into calls."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import structlog

from hall_controller.core.events import Event, TicketCalled, TicketRecalled
from hall_controller.core.hall import Emergency, Hall
from hall_controller.devices.announcer import Announcer, TtsAnnouncer, VoiceModuleAnnouncer
from hall_controller.devices.base import (
    TEST_SHOW_S,
    TEST_TEXT,
    Device,
    DeviceContext,
    NoTestFire,
    TestFired,
)
from hall_controller.devices.bus import SerialBus
from hall_controller.devices.card_readers import PcscCardReader, SamIdCardReader
from hall_controller.devices.errors import DeviceLost
from hall_controller.devices.health import DeviceState
from hall_controller.devices.local_pads import GpioCallPad, HidCallPad, KeyboardCallPad
from hall_controller.devices.model import (
    Announcement,
    CardPresented,
    CodeScanned,
    DeviceInput,
    EmergencyNotice,
    InputResult,
    KeyPressed,
    KioskInput,
    RatingGiven,
    TicketPrint,
)
from hall_controller.devices.mqtt_devices import (
    MqttCallPad,
    MqttDevice,
    MqttGateway,
    MqttRatingPad,
    MqttWindowDisplay,
)
from hall_controller.devices.printer import EscposPrinter
from hall_controller.devices.scanners import KeyboardCodeScanner, SerialCodeScanner
from hall_controller.devices.serial_devices import (
    FramedCallPad,
    FramedLedDisplay,
    FramedRatingPad,
    ModbusNumericDisplay,
    Rf433Receiver,
    SerialDevice,
)
from hall_controller.devices.showing import ShowingTracker
from hall_controller.devices.supervisor import Supervisor
from hall_controller.profiles import AnnouncerSettings, DeviceConfig, resolve_port
from hall_controller.protocols.mqtt_tree import Topics, encode_meta, encode_state
from hall_controller.protocols.rf433 import RemoteBindings
from hall_controller.transports.backoff import Backoff
from hall_controller.transports.base import ByteLink, LinkState
from hall_controller.transports.mqtt import MqttLink
from hall_controller.transports.serial import SerialLink, SerialParams, port_present

log = structlog.get_logger("hall_controller.devices")

# In the data directory: wireless pads bound to windows by learn mode.
REMOTE_BINDINGS_FILE = "remote-bindings.json"
# Rendered announcements (a cache) and, where the speaker writes files, what was said.
VOICE_CACHE_DIR = "voice-cache"
ANNOUNCEMENTS_DIR = "announcements"
# During an emergency, boards narrower than its message turn to their next page this often.
PAGE_EVERY_S = 3.0


class HallPort(Protocol):
    """What the devices may do to the hall (implemented over the services by the app)."""

    def hall(self) -> Hall:
        """The hall's current state."""
        ...

    async def pad_action(
        self, window: str, action: str, actor: str, *, transfer_to: str | None
    ) -> InputResult:
        """Carry out a call-pad key (call, recall, no_show, start, finish, pause, ...)."""
        ...

    async def rate(self, ticket_id: str, score: int, actor: str) -> InputResult:
        """Store the applicant's rating of one ticket."""
        ...

    def kiosk_input(self, item: KioskInput) -> None:
        """A card read or a code scanned at a kiosk, for that kiosk's screen."""
        ...


SerialFactory = Callable[[DeviceConfig, DeviceContext, SerialBus], SerialDevice]
LocalFactory = Callable[[DeviceConfig, DeviceContext], Device]
MqttFactory = Callable[[DeviceConfig, DeviceContext, MqttLink, Topics], MqttDevice]

# The implementation of each profile driver: new device models are profile files, not code.
SERIAL_DRIVERS: dict[str, SerialFactory] = {
    "framed_led": FramedLedDisplay,
    "modbus_numeric": ModbusNumericDisplay,
    "framed_callpad": FramedCallPad,
    "rf433_receiver": Rf433Receiver,
    "framed_rating": FramedRatingPad,
}
AnnouncerFactory = Callable[
    [DeviceConfig, DeviceContext, AnnouncerSettings, "DeviceHub"], Announcer
]
LOCAL_DRIVERS: dict[str, LocalFactory] = {
    "gpio_buttons": GpioCallPad,
    "keyboard_keys": KeyboardCallPad,
    "hid_keys": HidCallPad,
    # Kiosk devices: each owns its link (a printer, a card reader, a scanner per port).
    "escpos": EscposPrinter,
    "sam_idcard": SamIdCardReader,
    "pcsc_card": PcscCardReader,
    "keyboard_scanner": KeyboardCodeScanner,
    "serial_scanner": SerialCodeScanner,
}
ANNOUNCER_DRIVERS: dict[str, AnnouncerFactory] = {
    "tts_speaker": lambda config, context, settings, hub: TtsAnnouncer(
        config,
        context,
        settings=settings,
        cache_dir=hub.data_dir / VOICE_CACHE_DIR,
        output_dir=hub.data_dir / ANNOUNCEMENTS_DIR,
    ),
    "voice_module": lambda config, context, settings, hub: VoiceModuleAnnouncer(
        config, context, settings=settings, open_link=hub.open_link, backoff=hub.new_backoff()
    ),
}
MQTT_DRIVERS: dict[str, MqttFactory] = {
    "mqtt_callpad": MqttCallPad,
    "mqtt_display": MqttWindowDisplay,
    "mqtt_rating": MqttRatingPad,
}


# --- a technician's test-fire, one per kind of device ----------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceTest:
    """What a test-fire does to a device of one driver: its name, and the doing of it."""

    action: str  # "print", "flash", "speak" or "light"
    fire: Callable[[Device], Awaitable[TestFired]]


def _mismatch(device: Device) -> NoTestFire:
    # A driver table and its adapter class out of step: said plainly, not an assertion.
    return NoTestFire(f"{device.id}: a {type(device).__name__} cannot run this test")


async def _print_test(device: Device) -> TestFired:
    if not isinstance(device, EscposPrinter):
        raise _mismatch(device)
    return await device.print_test()


async def _flash(device: Device) -> TestFired:
    if not isinstance(device, FramedLedDisplay | ModbusNumericDisplay | MqttWindowDisplay):
        raise _mismatch(device)
    return device.flash(TEST_TEXT, TEST_SHOW_S)


async def _speak(device: Device) -> TestFired:
    if not isinstance(device, Announcer):
        raise _mismatch(device)
    return device.say_test()


async def _light(device: Device) -> TestFired:
    if not isinstance(device, FramedCallPad | MqttCallPad | GpioCallPad):
        raise _mismatch(device)
    return device.light("测试", TEST_SHOW_S)


async def _no_lamp(device: Device) -> TestFired:
    raise NoTestFire(f"{device.id}: this call pad model has no lamp or display to light")


# Keyed by the profile's driver; a driver not here (card readers, scanners, rating pads) has
# no test. Pads that cannot light are listed, so the console says why rather than nothing.
DEVICE_TESTS: Mapping[str, DeviceTest] = MappingProxyType(
    {
        "escpos": DeviceTest("print", _print_test),
        "framed_led": DeviceTest("flash", _flash),
        "modbus_numeric": DeviceTest("flash", _flash),
        "mqtt_display": DeviceTest("flash", _flash),
        "tts_speaker": DeviceTest("speak", _speak),
        "voice_module": DeviceTest("speak", _speak),
        "framed_callpad": DeviceTest("light", _light),
        "mqtt_callpad": DeviceTest("light", _light),
        "gpio_buttons": DeviceTest("light", _light),
        "keyboard_keys": DeviceTest("light", _no_lamp),
        "hid_keys": DeviceTest("light", _no_lamp),
        "rf433_receiver": DeviceTest("light", _no_lamp),
    }
)


class DeviceHub:
    """Owns every device adapter, their buses and supervisors, and the MQTT gateway."""

    def __init__(
        self,
        devices: Sequence[DeviceConfig],
        port: HallPort,
        *,
        data_dir: Path,
        hall_id: str,
        mqtt: MqttLink | None = None,
        announcer: AnnouncerSettings | None = None,
        clock: Callable[[], float] = time.time,
        open_link: Callable[[SerialParams], ByteLink] = SerialLink,
        backoff: Callable[[], Backoff] = Backoff,
        page_every_s: float = PAGE_EVERY_S,
    ) -> None:
        self.port = port
        # The emergency the devices were told of, and the task turning the boards' pages.
        self.emergency: Emergency | None = None
        self.page_every_s = page_every_s
        self._pages: asyncio.Task[None] | None = None
        self._old_pages: set[asyncio.Task[None]] = set()  # cancelled, awaited by close()
        self._bindings_file = data_dir / REMOTE_BINDINGS_FILE
        self._open_link = open_link
        self._backoff = backoff
        self.mqtt = mqtt
        self.topics = Topics(hall_id)
        self._clock = clock
        self._context = DeviceContext(clock, self._submit, self._state_changed)
        self.devices: dict[str, Device] = {}
        self.buses: dict[str, SerialBus] = {}
        self.supervisors: dict[str, Supervisor] = {}
        self._inputs: set[asyncio.Task[None]] = set()
        self._saves: set[asyncio.Task[None]] = set()
        self.announcers: list[Announcer] = []
        self.data_dir: Path = data_dir
        # One window's keys are carried out one after the other, in the order pressed: a
        # "call" that first opens the window must be done before the "start" after it.
        self._window_locks: dict[str, asyncio.Lock] = {}
        mqtt_devices: dict[str, MqttDevice] = {}
        for config in devices:
            driver = config.profile.driver
            device: Device
            if driver in SERIAL_DRIVERS:
                device = SERIAL_DRIVERS[driver](config, self._context, self._bus(config, data_dir))
            elif driver in ANNOUNCER_DRIVERS:
                if config.port is not None:  # a voice module's serial port
                    config = replace(config, port=resolve_port(config.port, data_dir))
                settings = announcer if announcer is not None else AnnouncerSettings()
                announcer_device = ANNOUNCER_DRIVERS[driver](config, self._context, settings, self)
                self.announcers.append(announcer_device)
                device = announcer_device
            elif driver in MQTT_DRIVERS:
                if mqtt is None:
                    raise ValueError(f"device {config.id} needs the MQTT broker")
                mqtt_device = MQTT_DRIVERS[driver](config, self._context, mqtt, self.topics)
                mqtt_devices[config.id] = mqtt_device
                device = mqtt_device
            else:
                if config.port is not None:  # a keyboard-like pad's input device
                    config = replace(config, port=resolve_port(config.port, data_dir))
                device = LOCAL_DRIVERS[driver](config, self._context)
            self.devices[config.id] = device
        self.gateway = MqttGateway(mqtt, self.topics, mqtt_devices) if mqtt is not None else None
        windows = sorted({d.config.window for d in self.devices.values() if d.config.window})
        self.by_window: dict[str, list[Device]] = {w: [] for w in windows}
        # Displays render first: the applicant watches the board; the clerk's pad can wait.
        for device in sorted(self.devices.values(), key=_render_order):
            if device.config.window is not None:
                self.by_window[device.config.window].append(device)
        self.tracker = ShowingTracker(windows)
        self._windows = {w.id for w in port.hall().config.windows}
        self._zones = {w.id: w.zone for w in port.hall().config.windows}
        self.printers = {d.id: d for d in self.devices.values() if isinstance(d, EscposPrinter)}
        for device in self.devices.values():
            if isinstance(device, Rf433Receiver):
                device.on_bound = self._bound

    def open_link(self, params: SerialParams) -> ByteLink:
        """A link to a serial port, as the hub opens them (tests hand out their own)."""
        return self._open_link(params)

    def new_backoff(self) -> Backoff:
        """A fresh reconnection backoff for one link."""
        return self._backoff()

    def _bus(self, config: DeviceConfig, data_dir: Path) -> SerialBus:
        assert config.port is not None
        assert config.profile.serial is not None
        url = resolve_port(config.port, data_dir)
        bus = self.buses.get(url)
        if bus is not None:
            return bus
        line = config.profile.serial
        params = SerialParams(url, line.baudrate, line.bytesize, line.parity, line.stopbits)
        timeouts = config.profile.timeouts
        open_link = self._open_link
        bus = SerialBus(
            url,
            lambda: open_link(params),
            lambda: port_present(url),
            open_timeout_s=timeouts.open_s,
            write_timeout_s=timeouts.write_s,
        )
        self.buses[url] = bus
        self.supervisors[url] = Supervisor(
            bus, lambda state, why: self._bus_state(bus, state, why), backoff=self._backoff()
        )
        return bus

    def _bus_state(self, bus: SerialBus, state: DeviceState, reason: str | None) -> None:
        if state is DeviceState.LOST:
            for endpoint in bus.endpoints:
                assert isinstance(endpoint, SerialDevice)
                endpoint.set_state(DeviceState.LOST, reason)
        elif state is DeviceState.READY and self.supervisors[bus.name].reconnects:
            for endpoint in bus.endpoints:
                assert isinstance(endpoint, SerialDevice)
                endpoint.health.reconnects += 1

    # --- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Render the hall's current state everywhere, then start every link."""
        await asyncio.to_thread(self._load_bindings)
        for showing in self.tracker.reset(self.port.hall()):
            for device in self.by_window.get(showing.window, []):
                device.showing = showing
        if self.gateway is not None and self.mqtt is not None:
            self.gateway.start()
            previous = self.mqtt.on_state
            gateway = self.gateway

            def on_state(state: LinkState) -> None:
                gateway.broker(state)
                if previous is not None:
                    previous(state)

            self.mqtt.on_state = on_state
            for device in self.gateway.devices.values():
                device.send_snapshot()
        for supervisor in self.supervisors.values():
            supervisor.start()
        for device in self.devices.values():
            self._publish_meta(device)
            await device.start()
            self._state_changed(device)
        # An emergency declared before a restart goes on: the boards and speakers resume it.
        self._follow_emergency(self.port.hall().emergency)
        log.info("devices_started", devices=len(self.devices), buses=len(self.buses))

    async def close(self) -> None:
        """Stop every device, bus and pending input."""
        pages = [*self._old_pages, *([self._pages] if self._pages is not None else [])]
        self._pages, self._old_pages = None, set()
        for task in pages:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for supervisor in self.supervisors.values():
            await supervisor.stop()
        for device in self.devices.values():
            await device.stop()
        tasks, self._inputs = self._inputs, set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        saves, self._saves = self._saves, set()
        if saves:
            # A binding just learned is written, not cancelled (the write is atomic and short).
            await asyncio.wait(saves, timeout=5.0)

    # --- the hall's state out --------------------------------------------------------------

    def hall_changed(self, hall: Hall, events: Sequence[Event]) -> None:
        """New committed events: render the windows whose showing changed."""
        for showing in self.tracker.apply(hall, events):
            for device in self.by_window.get(showing.window, ()):
                try:
                    device.render(showing)
                except Exception as exc:
                    # One adapter's bug must not keep the window's other devices stale.
                    device.health.error(f"render failed: {type(exc).__name__}: {exc}")
                    log.exception("device_render_failed", device=device.id)
        # After the windows' showings (kept for after an emergency), before the calls (which
        # an emergency holds back).
        self._follow_emergency(hall.emergency)
        if self.mqtt is not None:
            # Out now, not after the rest of this commit's watchers and whatever else is due in
            # this loop iteration: the applicant is looking at the board.
            self.mqtt.flush()
        if self.announcers:
            self._announce(hall, events)

    def _follow_emergency(self, emergency: Emergency | None) -> None:
        """Tell every device of an emergency declared or ended (displays, announcers)."""
        if emergency == self.emergency:
            return
        self.emergency = emergency
        notice = EmergencyNotice(emergency.message, emergency.drill) if emergency else None
        log.warning(
            "emergency_on_devices" if notice else "emergency_over_on_devices",
            drill=notice.drill if notice else None,
            devices=len(self.devices),
        )
        for device in self.devices.values():
            try:
                device.set_emergency(notice)
            except Exception as exc:
                # One adapter's bug must not keep the message off the other boards and speakers.
                device.health.error(f"emergency failed: {type(exc).__name__}: {exc}")
                log.exception("device_emergency_failed", device=device.id)
        pages, self._pages = self._pages, None
        if pages is not None:
            pages.cancel()  # ends at once: it only sleeps and turns pages
            self._old_pages.add(pages)
            pages.add_done_callback(self._old_pages.discard)
        if notice is not None:
            self._pages = asyncio.create_task(self._turn_pages(), name="emergency-pages")
        if self.mqtt is not None:
            self.mqtt.flush()

    async def _turn_pages(self) -> None:
        """Every page_every_s: each board's next page. The emergency also ends here when the
        business day rolls over without a hall event (a new day starts without one)."""
        while True:
            await asyncio.sleep(self.page_every_s)
            if self.port.hall().emergency != self.emergency:
                self._follow_emergency(self.port.hall().emergency)
                return
            for device in self.devices.values():
                try:
                    device.turn_page()
                except Exception as exc:
                    device.health.error(f"page failed: {type(exc).__name__}: {exc}")
                    log.exception("device_page_failed", device=device.id)
            if self.mqtt is not None:
                self.mqtt.flush()

    def _announce(self, hall: Hall, events: Sequence[Event]) -> None:
        """Each call and recall to the announcers of its window's zone (or of every zone)."""
        for event in events:
            if not isinstance(event, TicketCalled | TicketRecalled):
                continue
            ticket = hall.tickets.get(event.ticket_id)
            window = hall.config.window(event.window)
            if ticket is None:
                continue
            call = Announcement(
                ticket=ticket.number,
                window=window.id,
                window_name_zh=window.name_zh,
                window_name_en=window.name_en,
                recall=isinstance(event, TicketRecalled),
            )
            zone = self._zones.get(window.id)
            for announcer in self.announcers:
                if announcer.config.zone is None or zone is None or announcer.config.zone == zone:
                    announcer.announce(call)

    # --- kiosk printers --------------------------------------------------------------------

    async def print_ticket(self, printer_id: str, ticket: TicketPrint) -> None:
        """Print and confirm one ticket; DeviceError (PrintFailed) when it is not confirmed."""
        await self.printers[printer_id].print_ticket(ticket)

    def wake(self, device_id: str) -> bool:
        """A device announced its return (hot-plug): reconnect its link now."""
        device = self.devices.get(device_id)
        if device is None:
            return False
        if isinstance(device, SerialDevice):
            self.supervisors[device.bus.name].wake()
            return True
        supervisor = getattr(device, "supervisor", None)
        if isinstance(supervisor, Supervisor):
            supervisor.wake()
            return True
        return False

    def learn_remote(self, device_id: str, window: str | None) -> None:
        """Bind the next unknown 433 MHz remote pressed at `device_id` to `window` (None: stop);
        KeyError for an unknown device, ValueError for one that is not a receiver."""
        device = self.devices[device_id]
        if not isinstance(device, Rf433Receiver):
            raise ValueError(
                f"{device_id} is a {device.config.profile.driver}: it has no learn mode"
            )
        if window is None:
            device.bindings.cancel_learning()
        else:
            device.bindings.learn(window)

    async def test_fire(self, device_id: str) -> TestFired:
        """A technician's test of one device (print, flash, speak, light), by its driver.

        KeyError for an unknown device; NoTestFire when its kind or model has no test;
        DeviceLost when it is not reachable now; DeviceError when the test itself failed.
        """
        device = self.devices[device_id]
        profile = device.config.profile
        test = DEVICE_TESTS.get(profile.driver)
        if test is None:
            kind = profile.kind.replace("_", " ")
            raise NoTestFire(f"{device_id} is a {kind} ({profile.driver}): it has no test")
        if not device.ready:
            reason = device.health.last_error or "no answer"
            raise DeviceLost(f"{device_id} is {device.health.state.value}: {reason}")
        return await test.fire(device)

    def learning(self, device_id: str) -> str | None:
        """The window a receiver is learning a remote for, if it is."""
        device = self.devices.get(device_id)
        return device.bindings.learning if isinstance(device, Rf433Receiver) else None

    def _load_bindings(self) -> None:
        """Remotes bound by learn mode in earlier runs, over those of the config."""
        try:
            stored = json.loads(self._bindings_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning(
                "remote_bindings_unreadable", file=str(self._bindings_file), reason=str(exc)
            )
            return
        for device_id, remotes in stored.items() if isinstance(stored, dict) else ():
            device = self.devices.get(device_id)
            if not isinstance(device, Rf433Receiver) or not isinstance(remotes, dict):
                continue
            bindings = device.bindings.as_dict()
            for remote, window in remotes.items():
                if isinstance(window, str) and window in self._windows:
                    with contextlib.suppress(ValueError):
                        bindings[int(remote, 0)] = window
            device.bindings = RemoteBindings(bindings)

    def _bound(self, receiver: Rf433Receiver) -> None:
        """Learn mode bound a remote: write every receiver's bindings (off the loop)."""
        data = {
            device.id: {
                f"0x{remote:X}": window for remote, window in device.bindings.as_dict().items()
            }
            for device in self.devices.values()
            if isinstance(device, Rf433Receiver)
        }
        task = asyncio.create_task(
            asyncio.to_thread(_write_json, self._bindings_file, data), name="save-remote-bindings"
        )
        self._saves.add(task)
        task.add_done_callback(self._saved)

    def _saved(self, task: asyncio.Task[None]) -> None:
        self._saves.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            # The binding holds until a restart; the technician can teach it again then.
            log.error("remote_bindings_not_saved", file=str(self._bindings_file), reason=str(error))

    # --- health ----------------------------------------------------------------------------

    def health(self) -> list[dict[str, Any]]:
        """Every device's health, for the API and /metrics."""
        views = []
        for device in self.devices.values():
            view = device.health.view()
            view["learning"] = self.learning(
                device.id
            )  # a receiver in learn mode: for which window
            test = DEVICE_TESTS.get(device.config.profile.driver)
            view["test"] = test.action if test is not None else None
            views.append(view)
        return views

    def _publish_meta(self, device: Device) -> None:
        """Say, retained, what a serial, GPIO or USB device is (MQTT devices say it themselves)."""
        profile = device.config.profile
        if self.mqtt is None or profile.transport == "mqtt":
            return
        meta = {"kind": profile.kind, "model": profile.model[:64], "profile": profile.id[:64]}
        self.mqtt.publish(self.topics.device_meta(device.id), encode_meta(meta), qos=1, retain=True)

    def _state_changed(self, device: Device) -> None:
        if self.mqtt is None or device.config.profile.transport == "mqtt":
            return
        # Serial, GPIO and USB devices cannot speak MQTT: the controller says for them.
        state = device.health.state
        payload = "lost" if state is DeviceState.CONNECTING else state.value
        self.mqtt.publish(
            self.topics.device_state(device.id), encode_state(payload), qos=1, retain=True
        )

    # --- keys and ratings in ---------------------------------------------------------------

    def _submit(self, item: DeviceInput, device: Device) -> None:
        task = asyncio.create_task(self._handle(item, device), name=f"device-input:{device.id}")
        self._inputs.add(task)
        task.add_done_callback(self._inputs.discard)

    async def _handle(self, item: DeviceInput, device: Device) -> None:
        if isinstance(item, CardPresented | CodeScanned):
            self._kiosk_input(item)
            return
        lock = self._window_locks.setdefault(item.window, asyncio.Lock())
        async with lock:
            await self._carry_out(item, device)

    async def _carry_out(self, item: KeyPressed | RatingGiven, device: Device) -> None:
        actor = f"device:{device.id}"
        # Debug only: every key is in the event log already (actor device:<id>), and a log line
        # per key was a seventh of the loop's time at 200 keys a second.
        log.debug("device_input", device=device.id, input=type(item).__name__, window=item.window)
        if isinstance(item, KeyPressed):
            # "rate" too: the hall records the request (audited, and it is what a hall that
            # wants each rating asked for before the next call counts); the rating pad asks
            # when that event comes back.
            result = await self.port.pad_action(
                item.window, item.action, actor, transfer_to=device.config.transfer_to
            )
            device.feedback(result)
        elif isinstance(item, RatingGiven):
            showing = self.tracker.showing.get(item.window)
            if showing is None or showing.rating_ticket is None:
                return
            await self.port.rate(showing.rating_ticket, item.score, actor)

    def _kiosk_input(self, item: CardPresented | CodeScanned) -> None:
        """A card or code at a kiosk: handed to the kiosk's screen through the hall port."""
        log.info("kiosk_input", device=item.device_id, kiosk=item.kiosk, input=type(item).__name__)
        self.port.kiosk_input(item)


def _render_order(device: Device) -> int:
    """Window displays before every other kind; otherwise the config's order (a stable sort)."""
    return 0 if device.config.profile.kind == "window_display" else 1


def _write_json(path: Path, data: object) -> None:
    """Replace `path` atomically with `data` as JSON."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    temporary.replace(path)
