"""The gateway's TOML config: broker, hall id, profiles dir and the bus devices it presents."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hall_controller.config_reader import (
    ConfigError,
    ConfigIssue,
    Kind,
    Reader,
    Table,
    integer,
    parse_toml,
    pattern,
    read_toml,
    text_value,
)
from hall_controller.profiles import DeviceProfile, SerialSettings, load_profiles
from hall_controller.protocols.framed import Framing
from hall_controller.protocols.message_set import ID_PATTERN
from hall_controller.protocols.message_set import META as META_FIELDS

# Bus device drivers the gateway can present on the broker.
BRIDGED_DRIVERS = ("framed_callpad", "framed_led", "modbus_numeric", "framed_rating")
# Modbus RTU slave addresses (0 is broadcast, 248..255 reserved).
MODBUS_ADDRESSES = (1, 247)
META_TEXT_MAX = META_FIELDS["model"].max_length or 64

_TOP_KEYS = ("hall_id", "profiles", "broker", "devices")
_BROKER_KEYS = ("host", "port", "keepalive", "username", "password")
_DEVICE_KEYS = ("id", "profile", "port", "address", "username", "password")
_ID = pattern(ID_PATTERN, "an id of letters, digits, '_', '.' or '-' (at most 64)")
_TEXT = Kind("a non-empty string", text_value)
_PORT = integer(1, 65535, "a TCP port from 1 to 65535")
_KEEPALIVE = integer(5, 600, "seconds from 5 to 600")


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Where the hall's Mosquitto is and how the gateway's device connections log in."""

    host: str
    port: int = 1883
    keepalive_s: int = 15
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True, slots=True)
class BridgedDevice:
    """One bus device: its id in the topic tree, its model's profile, its port and address."""

    id: str
    profile: DeviceProfile
    port: str
    address: int
    username: str | None = None
    password: str | None = None

    @property
    def serial(self) -> SerialSettings:
        """The line settings of the device's model."""
        return self.profile.serial or SerialSettings()


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """A validated gateway config: everything the gateway needs to start."""

    file: str
    hall_id: str
    broker: BrokerSettings
    devices: tuple[BridgedDevice, ...]

    def ports(self) -> dict[str, tuple[BridgedDevice, ...]]:
        """The devices of each port (one bus each), in config order."""
        by_port: dict[str, list[BridgedDevice]] = {}
        for device in self.devices:
            by_port.setdefault(device.port, []).append(device)
        return {port: tuple(devices) for port, devices in by_port.items()}


def _address_range(profile: DeviceProfile) -> tuple[int, int]:
    codec = profile.codec
    if profile.driver == "modbus_numeric":
        return MODBUS_ADDRESSES
    framing = getattr(codec, "framing", None)
    size = framing.address_size if isinstance(framing, Framing) else 1
    return (0, 256**size - 1)


def _read_broker(r: Reader, data: Table) -> BrokerSettings | None:
    table = r.table(data.get("broker"), "broker", _BROKER_KEYS, "a [broker] table")
    if table is None:
        return None
    host = r.required(table, "broker", "host", _TEXT)
    port = r.optional(table, "broker", "port", _PORT, 1883)
    keepalive = r.optional(table, "broker", "keepalive", _KEEPALIVE, 15)
    username = r.optional(table, "broker", "username", _TEXT, "") or None
    password = r.optional(table, "broker", "password", _TEXT, "") or None
    if host is None:
        return None
    return BrokerSettings(host, port, keepalive, username, password)


def _read_device(
    r: Reader, table: Table, path: str, profiles: dict[str, DeviceProfile]
) -> BridgedDevice | None:
    device_id = r.required(table, path, "id", _ID)
    profile_id = r.required(table, path, "profile", _TEXT)
    port = r.required(table, path, "port", _TEXT)
    address = r.required(table, path, "address", integer(0, 0xFFFF, "an address from 0"))
    username = r.optional(table, path, "username", _TEXT, "") or None
    password = r.optional(table, path, "password", _TEXT, "") or None
    profile = profiles.get(profile_id or "")
    if profile_id is not None and profile is None:
        known = ", ".join(sorted(profiles)) or "none"
        r.report(f"{path}.profile", f'no profile "{profile_id}" in the profiles dir (has: {known})')
    if profile is not None and profile.driver not in BRIDGED_DRIVERS:
        drivers = ", ".join(BRIDGED_DRIVERS)
        r.report(
            f"{path}.profile",
            f'"{profile_id}" uses the {profile.driver} driver; the gateway bridges {drivers}',
        )
        return None
    if profile is None or device_id is None or port is None or address is None:
        return None
    low, high = _address_range(profile)
    if not low <= address <= high:
        r.report(f"{path}.address", f"{address} is not an address of this model ({low}..{high})")
        return None
    return BridgedDevice(device_id, profile, port, address, username, password)


def _check_buses(r: Reader, devices: list[tuple[str, BridgedDevice]]) -> None:
    """Devices sharing a port must share its line settings and not share an address."""
    first_on_port: dict[str, BridgedDevice] = {}
    seen: set[tuple[str, str, int]] = set()
    ids: set[str] = set()
    for path, device in devices:
        if device.id in ids:
            r.report(f"{path}.id", f'"{device.id}" is used by another device')
        ids.add(device.id)
        first = first_on_port.setdefault(device.port, device)
        if device.serial != first.serial:
            r.report(
                f"{path}.profile",
                f"its line settings differ from {first.id}'s on the same port {device.port}",
            )
        spot = (device.port, device.profile.id, device.address)
        if spot in seen:
            r.report(
                f"{path}.address",
                f"another {device.profile.id} on {device.port} has address {device.address}",
            )
        seen.add(spot)


def parse_config(
    data: Table, file: str, *, profiles: dict[str, DeviceProfile] | None = None
) -> GatewayConfig:
    """A validated config from parsed TOML `data`; ConfigError listing every problem.

    Without `profiles`, they are loaded from the `profiles` dir (relative to `file`'s dir).
    """
    r = Reader(file)
    top = r.table(data, "", _TOP_KEYS, "a table")
    if top is None:
        raise ConfigError(tuple(r.issues))
    hall_id = r.required(data, "", "hall_id", _ID)
    broker = _read_broker(r, data)
    if profiles is None:
        profiles_dir = r.required(data, "", "profiles", _TEXT)
        if profiles_dir is None:
            raise ConfigError(tuple(r.issues))
        directory = Path(file).parent / Path(profiles_dir).expanduser()
        try:
            profiles = load_profiles(directory)
        except ConfigError as err:
            raise ConfigError((*r.issues, *err.issues)) from err
    tables = r.tables(data, "devices", required=True) or []
    devices: list[tuple[str, BridgedDevice]] = []
    for i, raw in enumerate(tables):
        path = f"devices[{i}]"
        table = r.table(raw, path, _DEVICE_KEYS, "a table")
        device = None if table is None else _read_device(r, table, path, profiles)
        if device is not None:
            devices.append((path, device))
    _check_buses(r, devices)
    if r.issues or hall_id is None or broker is None:
        raise ConfigError(tuple(r.issues) or (ConfigIssue(file, "", "not a gateway config"),))
    return GatewayConfig(file, hall_id, broker, tuple(device for _, device in devices))


def parse_config_text(
    text: str, file: str, *, profiles: dict[str, DeviceProfile] | None = None
) -> GatewayConfig:
    """`parse_config` of TOML `text` as if read from `file`."""
    return parse_config(parse_toml(text, file), file, profiles=profiles)


def load_config(path: Path) -> GatewayConfig:
    """The validated config in the TOML file at `path`; ConfigError listing every problem."""
    return parse_config(read_toml(path), str(path))
