"""The composition root: builds the store, the service and the web server, and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import secrets
import signal
import ssl
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import structlog
from aiohttp import web

from hall_controller.access import SESSIONS_FILE, AccessControl
from hall_controller.core.events import PERSONAL_FIELDS, STAFF_ONLY_FIELDS, Event, event_data
from hall_controller.core.hall import Hall
from hall_controller.device_port import HubDeviceBench, HubKioskDevices, ServiceHallPort
from hall_controller.devices.announcer import ScreenVoice
from hall_controller.devices.hub import VOICE_CACHE_DIR, DeviceHub
from hall_controller.kiosks import KioskService
from hall_controller.logs import RECENT
from hall_controller.notifications import NoticeDispatcher, WebhookNotifier
from hall_controller.profiles import profiles_folder
from hall_controller.protocols.mqtt_tree import Topics
from hall_controller.retention import RetentionKeeper
from hall_controller.services import HallService, ServiceError
from hall_controller.settings import MqttSettings, Settings
from hall_controller.store import EventLog
from hall_controller.store.errors import StoreError
from hall_controller.technician import TechnicianService
from hall_controller.transports.backoff import Backoff
from hall_controller.transports.errors import TransportError
from hall_controller.transports.mqtt import MqttLink, Will
from hall_controller.web.api import CONTACTS_KEY, build_app
from hall_controller.web.technician import TECHNICIAN_KEY

log = structlog.get_logger(__name__)

PERSON_KEY_FILE = "person-key"
EVENT_LOG_FILE = "events.sqlite3"


class StartupError(Exception):
    """The controller cannot start; the message says what to fix."""


def default_data_dir(hall_id: str) -> Path:
    """systemd's StateDirectory when set, else the user's data directory, per hall."""
    state = os.environ.get("STATE_DIRECTORY")
    if state:
        return Path(state.split(":")[0])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hall-controller" / hall_id


def load_person_key(path: Path) -> bytes:
    """The hall's secret for keyed ID hashes, created (mode 0600) on first start."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        return key
    except OSError as exc:
        raise StartupError(f"cannot read {path}: {exc.strerror}") from exc
    if len(key) < 32:
        raise StartupError(f"{path} is shorter than 32 bytes; restore it from backup")
    return key


class CityStream:
    """The hall's durable events on `events` (QoS 1) for the city, a message per flush period."""

    def __init__(self, link: MqttLink, topics: Topics, hall_id: str, every_s: float = 0.25):
        self.link = link
        self.topic = topics.events()
        self.hall_id = hall_id
        self.every_s = every_s
        self._batch: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, hall: Hall, events: Sequence[Event]) -> None:
        """A durable batch of events (a service watcher); published with the next flush."""
        for event in events:
            data = event_data(event)
            # The city sees what happened, not who: no person hashes or booking codes, no
            # call candidates.
            for name in PERSONAL_FIELDS.get(event.type_name, ()):
                data.pop(name, None)
            data.pop("candidates", None)
            for name in STAFF_ONLY_FIELDS:
                data.pop(name, None)
            self._batch.append(
                {"type": event.type_name, "at": event.at, "actor": event.actor, "data": data}
            )
        if self._task is None:
            self._task = asyncio.create_task(self._flush_later(), name="city-stream-flush")

    async def _flush_later(self) -> None:
        try:
            await asyncio.sleep(self.every_s)
        finally:
            self._task = None
            self.flush()

    def flush(self) -> None:
        """Publish what has gathered (at most 500 events a message)."""
        batch, self._batch = self._batch, []
        for start in range(0, len(batch), 500):
            body = {"hall": self.hall_id, "events": batch[start : start + 500]}
            self.link.publish(self.topic, orjson.dumps(body), qos=1)

    async def close(self) -> None:
        """Publish what is left."""
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.flush()


@dataclass(slots=True)
class DeviceStack:
    """The hall's devices and, when configured, the controller's MQTT links."""

    hub: DeviceHub
    mqtt: MqttLink | None
    # The city event stream has a connection of its own: a burst of hall events (a queue of
    # tickets issued at opening) must not hold up the commands to the window displays.
    city: MqttLink | None = None
    city_stream: CityStream | None = None
    connecting: list[asyncio.Task[None]] = field(default_factory=list)

    async def close(self) -> None:
        """Stop every device, then leave the broker (publishing controller/$state = lost)."""
        for task in self.connecting:
            task.cancel()
        for task in self.connecting:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.hub.close()
        if self.city_stream is not None:
            await self.city_stream.close()
        for link in (self.mqtt, self.city):
            if link is not None:
                await link.stop(2.0)


def _mqtt_links(settings: MqttSettings, hall_id: str, topics: Topics) -> tuple[MqttLink, MqttLink]:
    """The devices' link (with the controller's presence) and the city event stream's link."""
    password = None
    if settings.password_file is not None:
        try:
            password = settings.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise StartupError(f"cannot read {settings.password_file}: {exc.strerror}") from exc
    devices = MqttLink(
        settings.host,
        settings.port,
        f"hall-controller-{hall_id}",
        will=Will(topics.controller_state(), b"lost"),
        birth=Will(topics.controller_state(), b"ready"),
        keepalive=settings.keepalive_s,
        username=settings.username,
        password=password,
        max_inflight=settings.max_inflight,
    )
    city = MqttLink(
        settings.host,
        settings.port,
        f"hall-controller-{hall_id}-events",
        keepalive=settings.keepalive_s,
        username=settings.username,
        password=password,
        max_inflight=settings.max_inflight,
    )
    return devices, city


async def _keep_connecting(link: MqttLink) -> None:
    """Connect to the broker, retrying with backoff; afterwards paho reconnects by itself."""
    backoff = Backoff(initial_s=1.0, cap_s=30.0)
    while True:
        try:
            await link.start(5.0)
        except TransportError as exc:
            delay = backoff.next_delay()
            log.warning("mqtt_unreachable", reason=str(exc), retry_in_s=round(delay, 1))
            await asyncio.sleep(delay)
        else:
            log.info("mqtt_connected", broker=link.name)
            return


async def start_devices(
    settings: Settings,
    service: HallService,
    data_dir: Path,
    kiosks: KioskService | None = None,
    technician: TechnicianService | None = None,
) -> DeviceStack | None:
    """Build the hall's devices from its config and start them; None when it lists none."""
    if not settings.devices and settings.mqtt is None:
        return None
    hall_id = settings.hall.id
    topics = Topics(hall_id)
    mqtt = city = None
    if settings.mqtt is not None:
        mqtt, city = _mqtt_links(settings.mqtt, hall_id, topics)
    hub = DeviceHub(
        settings.devices,
        ServiceHallPort(service, kiosks=kiosks),
        data_dir=data_dir,
        hall_id=hall_id,
        mqtt=mqtt,
        announcer=settings.announcer,
    )
    if kiosks is not None:
        kiosks.devices = HubKioskDevices(hub)
    if technician is not None:
        technician.bench = HubDeviceBench(hub)
    stack = DeviceStack(hub, mqtt, city)
    service.watchers.append(hub.hall_changed)
    service.devices = hub
    if mqtt is not None and city is not None:
        stack.city_stream = CityStream(city, topics, hall_id)
        service.watchers.append(stack.city_stream.add)
        stack.connecting = [
            asyncio.create_task(_keep_connecting(mqtt), name="mqtt-connect"),
            asyncio.create_task(_keep_connecting(city), name="mqtt-connect-city"),
        ]
    await hub.start()
    return stack


@dataclass(slots=True)
class Controller:
    """A running controller: its service, event log, devices and web server."""

    service: HallService
    event_log: EventLog
    runner: web.AppRunner
    url: str
    stopped: asyncio.Event
    kiosks: KioskService
    devices: DeviceStack | None = None
    screen_voice: ScreenVoice | None = None
    notices: NoticeDispatcher | None = None
    retention: RetentionKeeper | None = None

    async def close(self) -> None:
        """Stop serving, write a snapshot for a fast restart, and close the log durably."""
        if self.retention is not None:
            await self.retention.close()
        # Tickets being printed end first (printed and issued, or voided): their printers
        # and the event log are still there.
        await self.kiosks.close()
        if self.devices is not None:
            await self.devices.close()
        self.service.bus.close()
        await self.runner.cleanup()
        if self.notices is not None:
            await self.notices.close()
        if self.screen_voice is not None:
            await self.screen_voice.close()
        self.service.snapshot()
        await self.event_log.close()


def open_hall(
    settings: Settings, data_dir: Path, clock: Callable[[], float] = time.time
) -> tuple[HallService, EventLog]:
    """Open the data directory and the event log and restore today's state (blocking)."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"cannot create data directory {data_dir}: {exc.strerror}") from exc
    hall = settings.hall
    person_key = load_person_key(data_dir / PERSON_KEY_FILE)
    try:
        event_log = EventLog.open(data_dir / EVENT_LOG_FILE, synchronous=settings.store.synchronous)
    except StoreError as exc:
        raise StartupError(str(exc)) from exc
    service = HallService(
        hall,
        event_log,
        tz=ZoneInfo(hall.timezone),
        person_key=person_key,
        clock=clock,
        snapshot_every=settings.store.snapshot_every,
    )
    service.emergency_repeat_s = settings.announcer.emergency_repeat_s
    try:
        service.load()
    except (StoreError, ServiceError) as exc:
        raise StartupError(str(exc)) from exc
    # The restored day lives as long as the process: keep it out of every later full
    # collection, which would otherwise rescan it all (a pause that grows with the day).
    gc.collect()
    gc.freeze()
    return service, event_log


async def start_controller(
    settings: Settings,
    data_dir: Path,
    *,
    host: str | None = None,
    port: int | None = None,
    clock: Callable[[], float] = time.time,
) -> Controller:
    """Open the event log, restore today, and start answering HTTP."""
    hall = settings.hall
    tls = _tls_context(settings) if settings.server.tls_cert is not None else None
    notifier = await asyncio.to_thread(_notifier, settings)
    service, event_log = await asyncio.to_thread(open_hall, settings, data_dir, clock)
    stopped = asyncio.Event()
    service.on_failure = lambda _reason: stopped.set()
    event_log.start(asyncio.get_running_loop())
    voided = await service.void_unconfirmed()
    if voided:
        # Their paper may be out in someone's hand: staff honour or replace those numbers.
        log.warning("tickets_voided_at_start", numbers=voided)
    kiosks = KioskService(service)
    access_control = AccessControl(
        settings.access,
        service,
        key=service.derive_key(b"sessions"),
        sessions_file=data_dir / SESSIONS_FILE,
        clock=clock,
    )
    app = build_app(service, kiosks, access_control=access_control)
    # The profiles are edited where the hall config reads them (the folder of its devices'
    # profiles, else its [profiles] dir): a saved profile is in force at the next start.
    profiles_dir = next(
        (Path(d.profile.file).parent for d in settings.devices), None
    ) or profiles_folder(settings.source)
    technician = TechnicianService(
        service, profiles_dir=profiles_dir, devices=settings.devices, recent_log=RECENT
    )
    app[TECHNICIAN_KEY] = technician
    notices = None
    if notifier is not None and settings.notifications is not None:
        notices = NoticeDispatcher(
            service,
            notifier,
            near=settings.notifications.near,
            retries=settings.notifications.retries,
            backoff=lambda: Backoff(initial_s=1.0, cap_s=30.0),
        )
        app[CONTACTS_KEY] = notices.register
        await notices.start()
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    bind_host = host if host is not None else settings.server.host
    bind_port = port if port is not None else settings.server.port
    site = web.TCPSite(runner, bind_host, bind_port, reuse_address=True, ssl_context=tls)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        if notices is not None:
            await notices.close()
        await event_log.close()
        raise StartupError(f"cannot listen on {bind_host}:{bind_port}: {exc.strerror}") from exc
    addresses = runner.addresses
    actual = int(addresses[0][1]) if addresses else bind_port
    url = f"{'https' if tls else 'http'}://{bind_host}:{actual}"
    if tls is None and bind_host not in ("127.0.0.1", "localhost", "::1"):
        # Sign-in still works (the cookies are Secure only over TLS or on the box itself), but
        # PINs, passwords and session cookies would cross the hall's network in the clear.
        log.warning(
            "serving_without_tls",
            host=bind_host,
            advice="set [server] tls_cert and tls_key: PINs and sessions travel in the clear",
        )
    log.info("listening", url=url, port=actual, hall=hall.id, data_dir=str(data_dir))
    controller = Controller(service, event_log, runner, url, stopped, kiosks, notices=notices)
    # Personal data of days that ended while the controller was down goes first.
    controller.retention = RetentionKeeper(service, keep_s=settings.retention.personal_data_s)
    await controller.retention.start()
    # Hall displays that speak in the browser get the speakers' own Mandarin voice.
    controller.screen_voice = service.voice = ScreenVoice(
        settings.announcer, data_dir / VOICE_CACHE_DIR
    )
    try:
        controller.devices = await start_devices(settings, service, data_dir, kiosks, technician)
    except BaseException:
        await controller.close()
        raise
    return controller


def _notifier(settings: Settings) -> WebhookNotifier | None:
    """The [notifications] gateway, or None; StartupError if its token file is unreadable."""
    if settings.notifications is None:
        return None
    try:
        return WebhookNotifier.from_settings(settings.notifications)
    except (OSError, UnicodeDecodeError) as exc:
        file = settings.notifications.token_file
        raise StartupError(f"cannot read the notifications token file {file}: {exc}") from exc


def _tls_context(settings: Settings) -> ssl.SSLContext:
    """The server's TLS context from [server] tls_cert and tls_key; StartupError if unusable."""
    cert, key = settings.server.tls_cert, settings.server.tls_key
    assert cert is not None
    assert key is not None
    base = settings.source.parent
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(base / cert, base / key)
    except (OSError, ssl.SSLError) as exc:
        raise StartupError(f"cannot load the TLS certificate {cert} and key {key}: {exc}") from exc
    return context


def run_event_loop(main: Coroutine[Any, Any, int]) -> int:
    """Run `main` on uvloop (asyncio's loop on libuv, cheaper per request) when installed."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None
    try:
        import uvloop
    except ImportError:  # e.g. a platform without a uvloop wheel: asyncio's own loop works
        factory = None
    else:
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


async def run_controller(
    settings: Settings,
    data_dir: Path,
    *,
    host: str | None = None,
    port: int | None = None,
    background: Callable[[Controller], list[asyncio.Task[None]]] | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM (exit 0) or until the event log fails (exit 1)."""
    controller = await start_controller(settings, data_dir, host=host, port=port)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, controller.stopped.set)
    tasks = background(controller) if background is not None else []
    try:
        await controller.stopped.wait()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await controller.close()
    if controller.service.failure is not None:
        log.critical("stopping_after_failure", reason=controller.service.failure)
        return 1
    log.info("stopped")
    return 0
