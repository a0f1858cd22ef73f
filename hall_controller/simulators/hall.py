"""A whole hall of simulated devices: serial devices on PTYs, MQTT devices on the broker.

The controller opens the same port paths and broker as with real hardware: the simulated hall
puts a PTY's symlink at every serial port path of the hall config and connects one client per
MQTT device, so every key, frame and topic is the real thing.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import functools
import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from hall_controller.profiles import (
    DeviceConfig,
    EscposSettings,
    ModbusDisplaySettings,
    MqttDeviceSettings,
    Rf433Settings,
    SamIdCardSettings,
    ScannerSettings,
    resolve_port,
)
from hall_controller.protocols.callpad import CallPadCodec
from hall_controller.protocols.led_board import LedBoardCodec
from hall_controller.protocols.rating_pad import SCALE, RatingPadCodec
from hall_controller.protocols.sam_idcard import IdCardText
from hall_controller.simulators.buses import SimulatedBus
from hall_controller.simulators.escpos_printer import (
    PaperState,
    PrintedJob,
    SimulatedEscposPrinter,
)
from hall_controller.simulators.idcard_reader import IdCardReaderPeer
from hall_controller.simulators.mqtt_peers import (
    Broker,
    MqttCallPadPeer,
    MqttPeer,
    MqttRatingPadPeer,
    MqttWindowDisplayPeer,
    PeerModel,
)
from hall_controller.simulators.peers import (
    DEFAULT_REMOTE,
    REPEAT_S,
    BusPeer,
    CallPadPeer,
    LedBoardPeer,
    ModbusDisplayPeer,
    RatingPadPeer,
    Rf433ReceiverPeer,
)
from hall_controller.simulators.scanner import SerialScannerPeer
from hall_controller.transports.errors import TransportError
from hall_controller.transports.pty import PtyPair

log = structlog.get_logger("hall_controller.simulators")

# How long a call waits on a port or the broker.
TIMEOUT_S = 5.0
# A tap on a wireless pad: the receiver hears the code two or three times.
TAP_S = 0.2
# The longest a simulated key may be held.
MAX_HOLD_S = 60.0
# In the data directory: what the simulated printers printed, one text file per printer.
PRINTED_DIR = "printed"
# Where symlinks of simulated ports may point (a PTY's tty); anything else is a real port.
_PTY_DIR = "/dev/pts/"
# How the simulated applicants rate (best first), for the automatic clerks.
_SCORE_WEIGHTS = {5: 70, 4: 18, 3: 7, 2: 3, 1: 2}


class SimulatorError(Exception):
    """A request the simulated hall cannot carry out; the message says why, for a technician."""


class UnknownDevice(SimulatorError):
    """No simulated device has this id."""


class Unsupported(SimulatorError):
    """The device cannot do that (e.g. pressing a display, unplugging an MQTT device)."""


class BadArgument(SimulatorError):
    """A key, score, remote or duration the device does not have."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """ "; did you mean 'x'?" for the closest of `choices`, or ""."""
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?"


@dataclass(eq=False)
class _Port:
    """One simulated serial port: the PTY at the port path and the bus of its peers."""

    path: Path
    pair: PtyPair
    bus: SimulatedBus
    device_ids: list[str] = field(default_factory=list)
    # True once the simulator owns the port path: only then may stop() remove what is there.
    claimed: bool = False


@dataclass(eq=False)
class _SerialDevice:
    config: DeviceConfig
    port: _Port
    peer: BusPeer


@dataclass(frozen=True, slots=True)
class _Clerk:
    """What the automatic clerk of one window presses: its call pad (and remote), its rating pad."""

    window: str
    pad: str
    remote: int | None
    rating_pad: str | None


class SimulatedHall:
    """Every serial and MQTT device of a hall config, simulated, with a technician's controls.

    GPIO buttons, evdev keyboards and USB HID pads are not simulated here: they are local
    hardware that no port path or broker topic can stand in for (gpiozero's mock pin factory
    serves their tests). state() lists them as not simulated. Serial ports given as URLs
    (socket://, rfc2217://) are not simulated either.

    `speed` is hall seconds per real second for the automatic clerks; `seed` repeats their
    choices.
    """

    def __init__(
        self,
        devices: Sequence[DeviceConfig],
        *,
        hall_id: str,
        data_dir: Path,
        mqtt_host: str | None,
        mqtt_port: int | None,
        speed: float = 10.0,
        seed: int | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.hall_id = hall_id
        self.data_dir = data_dir
        self.speed = speed
        self.timeout_s = timeout_s
        self.configs: dict[str, DeviceConfig] = {}
        self.ports: dict[Path, _Port] = {}
        self.serial: dict[str, _SerialDevice] = {}
        self.mqtt: dict[str, MqttPeer] = {}
        self.not_simulated: dict[str, str] = {}  # device id -> why
        self._random = random.Random(seed)
        self._clerk_tasks: dict[str, asyncio.Task[None]] = {}
        self._started = False
        self.cards_placed = 0  # synthetic cards made for the console (each a new person)
        broker = None
        if mqtt_host is not None and mqtt_port is not None:
            broker = Broker(hall_id, mqtt_host, mqtt_port)
        for config in devices:
            if config.id in self.configs:
                raise ValueError(f"device id {config.id!r} is listed twice")
            self.configs[config.id] = config
            self._add(config, broker)
        self.clerks = self._find_clerks()

    # --- building ----------------------------------------------------------------------------

    def _add(self, config: DeviceConfig, broker: Broker | None) -> None:
        profile = config.profile
        # A USB printer given a port path is the kernel's /dev/usb/lp* device: a PTY plays it.
        if profile.transport == "serial" or (profile.transport == "usb" and config.port):
            self._add_serial(config)
        elif profile.transport == "mqtt":
            if broker is None:
                raise ValueError(f"device {config.id} is an MQTT device: give the broker")
            self.mqtt[config.id] = _mqtt_peer(config, broker)
        else:
            self.not_simulated[config.id] = f"{profile.transport} devices are not simulated"

    def _add_serial(self, config: DeviceConfig) -> None:
        if config.port is None:
            self.not_simulated[config.id] = "no port in the hall config"
            return
        where = resolve_port(config.port, self.data_dir)
        if "://" in where:
            self.not_simulated[config.id] = f"network serial port {where} is not simulated"
            return
        peer = _serial_peer(config)
        if peer is None:
            self.not_simulated[config.id] = f"driver {config.profile.driver} is not simulated"
            return
        path = Path(where)
        port = self.ports.get(path)
        if port is None:
            pair = PtyPair(path, name=path.name)
            bus = SimulatedBus(
                pair.link, [], name=path.name, write_timeout_s=config.profile.timeouts.write_s
            )
            port = self.ports[path] = _Port(path, pair, bus)
        port.bus.peers.append(peer)
        port.device_ids.append(config.id)
        self.serial[config.id] = _SerialDevice(config, port, peer)
        if isinstance(peer, SimulatedEscposPrinter):
            # Answers it owes once paper is loaded or the cover closed go out on its line.
            peer.send = port.bus.send
            peer.on_job = functools.partial(self._printed, config.id)

    def _printed(self, device_id: str, job: PrintedJob) -> None:
        """Keep what a simulated printer printed where a technician can read it."""
        folder = self.data_dir / PRINTED_DIR
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with (folder / f"{device_id}.txt").open("a", encoding="utf-8") as paper:
                paper.write(job.text + "\n" + "-" * 32 + "\n")
        except OSError as exc:
            log.warning("simulated_paper_not_saved", device=device_id, reason=str(exc))

    def _find_clerks(self) -> dict[str, _Clerk]:
        pads: dict[str, tuple[str, int | None]] = {}
        ratings: dict[str, str] = {}
        for device_id, config in self.configs.items():
            if device_id in self.not_simulated:
                continue
            kind, window = config.profile.kind, config.window
            if kind == "rating_pad" and window is not None:
                ratings.setdefault(window, device_id)
            elif kind == "call_pad" and isinstance(config.profile.codec, Rf433Settings):
                for remote, bound in sorted(config.remotes.items()):
                    pads.setdefault(bound, (device_id, remote))
            elif kind == "call_pad" and window is not None:
                pads.setdefault(window, (device_id, None))
        return {
            window: _Clerk(window, pad, remote, ratings.get(window))
            for window, (pad, remote) in sorted(pads.items())
            if "call" in self.keys(pad)
        }

    # --- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Plug every simulated port in and connect every MQTT device (they say "ready")."""
        if self._started:
            return
        self._started = True
        try:
            for port in self.ports.values():
                _claim(port.path)
                port.claimed = True
                port.pair.open()
                await port.bus.start()
            for peer in self.mqtt.values():
                await peer.start(self.timeout_s)
        except BaseException:
            await self.stop()
            raise
        log.info(
            "simulated_hall_started",
            ports=len(self.ports),
            serial=len(self.serial),
            mqtt=len(self.mqtt),
            not_simulated=len(self.not_simulated),
        )

    async def stop(self) -> None:
        """Stop the clerks, unplug every port (removing its link) and switch MQTT devices off."""
        self._started = False
        await self.stop_auto()
        for port in self.ports.values():
            await port.bus.stop()
            if port.claimed:
                port.pair.close()
                port.claimed = False
        for peer in self.mqtt.values():
            with contextlib.suppress(TransportError):
                await peer.stop(self.timeout_s)

    # --- a technician's controls ---------------------------------------------------------------

    def device_ids(self) -> list[str]:
        """Every device of the hall config, simulated or not."""
        return list(self.configs)

    def keys(self, device_id: str) -> tuple[str, ...]:
        """The actions a device has keys for (empty for displays and rating pads)."""
        device = self.serial.get(device_id)
        if device is not None and isinstance(device.peer, CallPadPeer | Rf433ReceiverPeer):
            return device.peer.actions
        peer = self.mqtt.get(device_id)
        if isinstance(peer, MqttCallPadPeer):
            return peer.keys
        return ()

    def scores(self, device_id: str) -> tuple[int, ...]:
        """The scores a rating pad's keys give, best first (empty for other devices)."""
        device = self.serial.get(device_id)
        if device is not None and isinstance(device.peer, RatingPadPeer):
            return device.peer.scores
        if isinstance(self.mqtt.get(device_id), MqttRatingPadPeer):
            return tuple(sorted(SCALE, reverse=True))
        return ()

    async def press(self, device_id: str, action: str, *, remote: int | None = None) -> None:
        """Press the key for `action` on a call pad (a wireless pad: a short tap)."""
        self._config(device_id)
        self._check_key(device_id, action)
        device = self.serial.get(device_id)
        if device is not None:
            peer = device.peer
            if isinstance(peer, Rf433ReceiverPeer):
                await self.hold(device_id, action, TAP_S, remote=remote)
                return
            assert isinstance(peer, CallPadPeer)
            self._check_plugged(device)
            device.port.bus.send(peer.press(action))
            await self._drain(device.port)
            return
        pad = self.mqtt[device_id]
        assert isinstance(pad, MqttCallPadPeer)
        await pad.press(action, self.timeout_s)

    async def hold(
        self, device_id: str, action: str, seconds: float, *, remote: int | None = None
    ) -> None:
        """Hold a wireless pad's key for `seconds`: the receiver repeats its code meanwhile."""
        config = self._config(device_id)
        device = self.serial.get(device_id)
        if device is None or not isinstance(device.peer, Rf433ReceiverPeer):
            raise Unsupported(
                f"{device_id} is a {_describe(config)}: only 433 MHz receivers repeat a held key"
            )
        if not 0 <= seconds <= MAX_HOLD_S:
            raise BadArgument(f"hold for 0 to {MAX_HOLD_S:g} seconds, not {seconds:g}")
        self._check_key(device_id, action)
        self._check_plugged(device)
        try:
            frames = device.peer.hold(action, seconds, remote)
        except ValueError as exc:
            raise BadArgument(f"{device_id}: {exc}") from None
        task = device.port.bus.send_repeated(frames, REPEAT_S)
        async with asyncio.timeout(seconds + self.timeout_s):
            await task

    async def rate(self, device_id: str, score: int) -> None:
        """Press the key for `score` (1 非常不满意 .. 5 非常满意) on a rating pad."""
        config = self._config(device_id)
        device = self.serial.get(device_id)
        scores = self.scores(device_id)
        if not scores:
            raise Unsupported(f"{device_id} is a {_describe(config)}, not a rating pad")
        if score not in scores:
            have = ", ".join(f"{s} {SCALE[s]}" for s in scores)
            raise BadArgument(f"{device_id} has no key for score {score!r} (its keys: {have})")
        if device is not None:
            assert isinstance(device.peer, RatingPadPeer)
            self._check_plugged(device)
            device.port.bus.send(device.peer.rate(score))
            await self._drain(device.port)
            return
        pad = self.mqtt[device_id]
        assert isinstance(pad, MqttRatingPadPeer)
        await pad.rate(score, self.timeout_s)

    async def place_card(self, device_id: str, card: IdCardText) -> None:
        """An applicant puts an ID card on a kiosk's reader (it stays until removed)."""
        _, peer = self._kiosk_peer(device_id, IdCardReaderPeer, "an ID card reader")
        assert isinstance(peer, IdCardReaderPeer)
        peer.place_card(card)

    async def remove_card(self, device_id: str) -> None:
        """The card is taken off the reader."""
        _, peer = self._kiosk_peer(device_id, IdCardReaderPeer, "an ID card reader")
        assert isinstance(peer, IdCardReaderPeer)
        peer.remove_card()

    async def scan(self, device_id: str, code: str) -> None:
        """Scan a code (a ticket's QR address, an appointment code) at a kiosk's scanner."""
        if not code or len(code) > 512 or "\r" in code or "\n" in code:
            raise BadArgument("a code is 1 to 512 characters on one line")
        device, peer = self._kiosk_peer(device_id, SerialScannerPeer, "a code scanner")
        assert isinstance(peer, SerialScannerPeer)
        self._check_plugged(device)
        device.port.bus.send(peer.scan(code))
        await self._drain(device.port)

    def printer(self, device_id: str) -> SimulatedEscposPrinter:
        """A simulated ticket printer, to load paper, open its cover or read what it printed."""
        _, peer = self._kiosk_peer(device_id, SimulatedEscposPrinter, "a ticket printer")
        assert isinstance(peer, SimulatedEscposPrinter)
        return peer

    def set_paper(self, device_id: str, paper: PaperState) -> None:
        """Let a printer's paper run low or out, or load a new roll ("ok")."""
        if paper not in ("ok", "low", "out"):
            raise BadArgument(f'paper is "ok", "low" or "out", not {paper!r}')
        self.printer(device_id).set_paper(paper)

    def _kiosk_peer(
        self, device_id: str, kind: type[object], what: str
    ) -> tuple[_SerialDevice, BusPeer]:
        config = self._config(device_id)
        device = self.serial.get(device_id)
        if device is None or not isinstance(device.peer, kind):
            raise Unsupported(f"{device_id} is a {_describe(config)}, not {what}")
        return device, device.peer

    def unplug(self, device_id: str) -> list[str]:
        """Pull the device's port (every device on it goes); the devices that went."""
        port = self._port(device_id, "unplug")
        port.pair.unplug()
        log.info("simulated_port_unplugged", port=str(port.path), devices=port.device_ids)
        return list(port.device_ids)

    def replug(self, device_id: str) -> list[str]:
        """Plug the device's port back in (a new tty behind the same path); the devices back."""
        port = self._port(device_id, "replug")
        port.pair.replug()
        log.info("simulated_port_replugged", port=str(port.path), devices=port.device_ids)
        return list(port.device_ids)

    async def offline(self, device_id: str) -> None:
        """An MQTT device crashes: its connection drops and the broker publishes its will."""
        await self._mqtt_peer(device_id, "offline").go_offline(self.timeout_s)

    async def online(self, device_id: str) -> None:
        """An MQTT device comes back: "ready" again, and it reads its retained snapshot."""
        await self._mqtt_peer(device_id, "online").come_back(self.timeout_s)

    def state(self) -> dict[str, object]:
        """What every device shows now, JSON-ready, for the console and tests."""
        devices: dict[str, object] = {}
        for device_id, config in self.configs.items():
            entry: dict[str, object] = {
                "kind": config.profile.kind,
                "driver": config.profile.driver,
                "transport": config.profile.transport,
                "window": config.window,
                "where": self._where(config),
                "link": self._link(device_id),
                "shows": None,
            }
            serial = self.serial.get(device_id)
            if serial is not None:
                entry["shows"] = serial.peer.view()
            elif device_id in self.mqtt:
                entry["shows"] = self.mqtt[device_id].view()
            else:
                entry["why"] = self.not_simulated.get(device_id, "")
            devices[device_id] = entry
        return {
            "hall": self.hall_id,
            "auto": {"on": self.auto, "speed": self.speed, "windows": sorted(self.clerks)},
            "devices": devices,
        }

    def _where(self, config: DeviceConfig) -> str:
        serial = self.serial.get(config.id)
        if serial is not None:
            return f"{serial.port.path} @{config.address}"
        if config.profile.transport == "mqtt":
            return f"mqtt device/{config.id}"
        return config.port or config.profile.transport

    def _link(self, device_id: str) -> str:
        serial = self.serial.get(device_id)
        if serial is not None:
            return "plugged" if serial.port.pair.plugged else "unplugged"
        peer = self.mqtt.get(device_id)
        if peer is not None:
            return "online" if peer.online else "offline"
        return "not simulated"

    # --- checks ------------------------------------------------------------------------------

    def _config(self, device_id: str) -> DeviceConfig:
        config = self.configs.get(device_id)
        if config is None:
            known = ", ".join(self.configs) or "none"
            hint = did_you_mean(device_id, self.configs)
            raise UnknownDevice(f"no device {device_id!r}{hint} (devices: {known})")
        if device_id in self.not_simulated:
            raise Unsupported(f"{device_id} is not simulated: {self.not_simulated[device_id]}")
        return config

    def _check_key(self, device_id: str, action: str) -> None:
        keys = self.keys(device_id)
        if not keys:
            config = self._config(device_id)
            raise Unsupported(f"{device_id} is a {_describe(config)}: it has no keys to press")
        if action not in keys:
            raise BadArgument(
                f"{device_id} has no {action!r} key{did_you_mean(action, keys)} "
                f"(its keys: {', '.join(keys)})"
            )

    def _check_plugged(self, device: _SerialDevice) -> None:
        if not device.port.pair.plugged:
            raise SimulatorError(
                f"{device.config.id}: its port {device.port.path} is unplugged (replug it first)"
            )

    def _port(self, device_id: str, what: str) -> _Port:
        config = self._config(device_id)
        device = self.serial.get(device_id)
        if device is None:
            hint = " (use offline/online)" if device_id in self.mqtt else ""
            raise Unsupported(f"cannot {what} {device_id}: it is a {_describe(config)}{hint}")
        return device.port

    def _mqtt_peer(self, device_id: str, what: str) -> MqttPeer:
        config = self._config(device_id)
        peer = self.mqtt.get(device_id)
        if peer is None:
            hint = " (use unplug/replug)" if device_id in self.serial else ""
            raise Unsupported(f"{device_id} is a {_describe(config)}, not on MQTT{hint}")
        return peer

    async def _drain(self, port: _Port) -> None:
        try:
            await port.bus.drain(self.timeout_s)
        except TimeoutError:
            raise SimulatorError(
                f"{port.path}: the port took no bytes within the timeout"
            ) from None

    # --- automatic clerks ----------------------------------------------------------------------

    @property
    def auto(self) -> bool:
        """Whether the automatic clerks are working."""
        return bool(self._clerk_tasks)

    def start_auto(self, speed: float | None = None) -> list[str]:
        """Let a clerk work every window that has a call pad; the windows worked."""
        if speed is not None:
            if speed <= 0:
                raise BadArgument(f"speed must be above 0, not {speed:g}")
            self.speed = speed
        for window, clerk in self.clerks.items():
            if window not in self._clerk_tasks:
                rng = random.Random(self._random.random())
                self._clerk_tasks[window] = asyncio.create_task(
                    self._clerk(clerk, rng), name=f"sim-clerk:{window}"
                )
        return sorted(self._clerk_tasks)

    async def stop_auto(self) -> None:
        """Stop every automatic clerk."""
        tasks, self._clerk_tasks = self._clerk_tasks, {}
        for task in tasks.values():
            task.cancel()
        for task in tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _hall_sleep(self, hall_seconds: float) -> None:
        await asyncio.sleep(hall_seconds / self.speed)

    async def _clerk(self, clerk: _Clerk, rng: random.Random) -> None:
        """Call, start, finish, and let the applicant rate, at a clerk's pace, forever."""
        keys = self.keys(clerk.pad)
        while True:
            await self._hall_sleep(rng.uniform(5, 30))
            if not await self._clerk_press(clerk, "call"):
                continue
            await self._hall_sleep(rng.uniform(3, 10))
            if self._lamp(clerk.pad) is False:
                continue  # nobody waiting: the pad's lamp stayed dark
            if "start" in keys:
                await self._clerk_press(clerk, "start")
            await self._hall_sleep(rng.uniform(30, 180))
            if "finish" not in keys or not await self._clerk_press(clerk, "finish"):
                continue
            if clerk.rating_pad is not None:
                await self._hall_sleep(rng.uniform(2, 8))
                scores = [s for s in _SCORE_WEIGHTS if s in self.scores(clerk.rating_pad)]
                if scores:
                    weights = [_SCORE_WEIGHTS[s] for s in scores]
                    score = rng.choices(scores, weights=weights)[0]
                    with contextlib.suppress(SimulatorError, TransportError, TimeoutError):
                        await self.rate(clerk.rating_pad, score)

    async def _clerk_press(self, clerk: _Clerk, action: str) -> bool:
        try:
            await self.press(clerk.pad, action, remote=clerk.remote)
        except (SimulatorError, TransportError, TimeoutError) as exc:
            log.info("simulated_clerk_key_failed", window=clerk.window, key=action, error=str(exc))
            return False
        return True

    def _lamp(self, device_id: str) -> bool | None:
        """The pad's lamp, or None for pads without one (wireless pads)."""
        device = self.serial.get(device_id)
        if device is not None:
            return device.peer.lamp if isinstance(device.peer, CallPadPeer) else None
        peer = self.mqtt.get(device_id)
        return peer.lamp if isinstance(peer, MqttCallPadPeer) else None


def _describe(config: DeviceConfig) -> str:
    return f"{config.profile.kind.replace('_', ' ')} ({config.profile.driver})"


def _serial_peer(config: DeviceConfig) -> BusPeer | None:
    codec = config.profile.codec
    address = config.address
    if isinstance(codec, LedBoardCodec):
        return LedBoardPeer(codec, address)
    if isinstance(codec, CallPadCodec):
        return CallPadPeer(codec, address)
    if isinstance(codec, RatingPadCodec):
        return RatingPadPeer(codec, address)
    if isinstance(codec, ModbusDisplaySettings):
        return ModbusDisplayPeer(codec.registers, address)
    if isinstance(codec, Rf433Settings):
        default = min(config.remotes) if config.remotes else DEFAULT_REMOTE
        return Rf433ReceiverPeer(codec.layout, default_remote=default)
    if isinstance(codec, EscposSettings):
        return SimulatedEscposPrinter.for_settings(codec, name=config.id)
    if isinstance(codec, SamIdCardSettings):
        return IdCardReaderPeer()
    if isinstance(codec, ScannerSettings):
        return SerialScannerPeer(encoding=codec.encoding)
    return None


def _mqtt_peer(config: DeviceConfig, broker: Broker) -> MqttPeer:
    profile = config.profile
    codec = profile.codec
    settings = codec if isinstance(codec, MqttDeviceSettings) else MqttDeviceSettings(16, ())
    model = PeerModel(profile.model, profile.id, settings.text_width, settings.keys)
    if profile.kind == "call_pad":
        return MqttCallPadPeer(config.id, broker, model)
    if profile.kind == "rating_pad":
        return MqttRatingPadPeer(config.id, broker, model)
    return MqttWindowDisplayPeer(config.id, broker, model)


def _claim(path: Path) -> None:
    """Make room for a simulated port's link at `path`; SimulatorError if a real port is there."""
    if path.is_symlink():
        target = os.readlink(path)
        if not target.startswith(_PTY_DIR):
            raise SimulatorError(f"{path} points at {target}: a real port is not replaced")
    elif path.exists():
        raise SimulatorError(f"{path} exists and is no simulated port: a real device is there")
    path.parent.mkdir(parents=True, exist_ok=True)
