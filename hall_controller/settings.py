"""Load a hall's TOML configuration, check all of it in one pass, and report every problem."""

from __future__ import annotations

import dataclasses
import itertools
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from types import MappingProxyType
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from hall_controller.config_reader import (
    CLOCK_RE,
    ConfigError,
    ConfigIssue,
    Invalid,
    Kind,
    Reader,
    Table,
    boolean_value,
    choice,
    clock,
    did_you_mean,
    duration,
    format_issues,
    integer,
    join_key,
    parse_toml,
    pattern,
    quote,
    read_toml,
    real,
    seconds,
    show_value,
    span,
    text_value,
    time_of_day,
)
from hall_controller.core.model import (
    Capacity,
    HallConfig,
    HallDisplay,
    Kiosk,
    OpeningPeriod,
    Policy,
    PriorityGroup,
    Quota,
    RatingRules,
    SlotGrid,
    Theme,
    TicketLayout,
    Window,
)
from hall_controller.profiles import (
    KIOSK_KINDS,
    AnnouncerSettings,
    DeviceConfig,
    DeviceProfile,
    GpioPadSettings,
    load_profiles,
)

__all__ = [
    "DEFAULT_PRIORITY_GROUPS",
    "AccessSettings",
    "Account",
    "ConfigError",
    "ConfigIssue",
    "DeviceConfig",
    "MqttSettings",
    "NotificationSettings",
    "RetentionSettings",
    "ServerSettings",
    "Settings",
    "StoreSettings",
    "Synchronous",
    "format_issues",
    "load_settings",
    "validate_settings_text",
]

Synchronous = Literal["full", "normal"]

DEFAULT_PRIORITY_GROUPS: tuple[PriorityGroup, ...] = (
    PriorityGroup("elderly", "老年人", "Elderly", min_age=60),
    PriorityGroup("disabled", "残疾人", "Disabled"),
    PriorityGroup("pregnant", "孕妇", "Pregnant"),
)


# --- public results -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Where the HTTP server listens, and its TLS certificate and key (PEM) if it serves HTTPS."""

    host: str = "127.0.0.1"
    port: int = 8080
    tls_cert: Path | None = None
    tls_key: Path | None = None


AccountRole = Literal["staff", "manager", "technician"]
ACCOUNT_ROLES: tuple[AccountRole, ...] = ("staff", "manager", "technician")


@dataclass(frozen=True, slots=True)
class Account:
    """A person or a system that signs in: its roles and the hashes of its secrets."""

    id: str
    name_zh: str
    name_en: str
    roles: frozenset[AccountRole]
    # staff: the windows this clerk may sign in at; None: every window.
    windows: frozenset[str] | None = None
    # A PIN or password, as an argon2id hash (`hall-controller hash-secret`).
    password_hash: str | None = None
    # A machine's bearer token, as "sha256:<hex>" (`hall-controller new-token`).
    token_hash: str | None = None


@dataclass(frozen=True, slots=True)
class AccessSettings:
    """Who may sign in, kiosks' device tokens, and how long a session lasts ([access])."""

    accounts: tuple[Account, ...] = ()
    kiosk_tokens: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    session_idle_s: int = 2 * 3600
    session_max_s: int = 12 * 3600
    sign_in_hint_zh: str = ""
    sign_in_hint_en: str = ""


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """How the event store writes: SQLite synchronous mode and events between state snapshots."""

    synchronous: Synchronous = "full"
    snapshot_every: int = 2000


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """The hall's MQTT broker (Mosquitto on the edge box) and how the controller logs in."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password_file: Path | None = None
    keepalive_s: int = 15
    # QoS 1 messages in flight per connection; set max_inflight_messages in mosquitto.conf to
    # the same (Mosquitto's default is 20).
    max_inflight: int = 20


@dataclass(frozen=True, slots=True)
class NotificationSettings:
    """The gateway (SMS, WeChat) told when a ticket is near the front and when it is called."""

    webhook_url: str
    token_file: Path | None = None
    near: int = 3  # people ahead when the "near" notice goes out
    timeout_s: float = 5.0  # per attempt
    retries: int = 5


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """How long personal data (keyed ID hashes, booking codes) stays in the event log after
    its business day ends ([retention] personal_data), in seconds: 0 is "end_of_day"."""

    personal_data_s: int = 0


@dataclass(frozen=True, slots=True)
class Settings:
    """A fully validated configuration and the file it came from."""

    hall: HallConfig
    server: ServerSettings
    store: StoreSettings
    source: Path
    mqtt: MqttSettings | None = None
    devices: tuple[DeviceConfig, ...] = ()
    announcer: AnnouncerSettings = field(default_factory=AnnouncerSettings)
    access: AccessSettings = field(default_factory=AccessSettings)
    notifications: NotificationSettings | None = None
    retention: RetentionSettings = field(default_factory=RetentionSettings)


def load_settings(path: str | Path) -> Settings:
    """Read and validate the TOML file at `path`; raise ConfigError listing every problem."""
    return _read_settings(read_toml(path), Reader(str(path)), Path(path))


def validate_settings_text(text: str, file: str) -> Settings:
    """Validate TOML `text` as if read from `file`; raise ConfigError listing every problem."""
    return _read_settings(parse_toml(text, file), Reader(file), Path(file))


_TEXT = Kind("a non-empty string", text_value)
_BOOL = Kind("true or false", boolean_value)
_TIME = Kind('a time "HH:MM"', time_of_day)
_HALL_ID = pattern(
    r"[a-z0-9-]+", 'a hall id of lowercase letters, digits and "-", such as "gz-tianhe"'
)
_THEME_ID = pattern(r"[a-z0-9_-]+", 'a theme id of lowercase letters, digits, "_" or "-"')
_WINDOW_ID = pattern(r"[A-Za-z0-9_-]+", 'a window id of letters, digits, "_" or "-", such as "1"')
_GROUP_ID = pattern(r"[a-z0-9_-]+", 'a group id of lowercase letters, digits, "_" or "-"')
_PREFIX = pattern(r"[A-Z]{1,2}", "1-2 uppercase letters")
_PORT = integer(1, 65535, "a port number from 1 to 65535")
_SNAPSHOT_EVERY = integer(100, None, "a whole number of events, at least 100")
_SYNCHRONOUS: Kind[str] = choice(("full", "normal"))
_DAILY_CAP = integer(1, None, "a positive whole number of tickets")
_MIN_AGE = integer(1, 130, "an age in years from 1 to 130")
_POSITIVE_DURATION = duration(allow_zero=False)
_DURATION_OR_ZERO = duration(allow_zero=True)
_PERIOD_EXPECTED = 'an opening period "HH:MM-HH:MM"'
_PERIOD_RE = re.compile(rf"\s*({CLOCK_RE})\s*-\s*({CLOCK_RE})\s*")


# --- sections ---------------------------------------------------------------------------------

_TOP_KEYS = (
    "hall",
    "server",
    "store",
    "policy",
    "themes",
    "windows",
    "priority_groups",
    "mqtt",
    "profiles",
    "devices",
    "kiosks",
    "ticket",
    "announcer",
    "display",
    "access",
    "accounts",
    "notifications",
    "ratings",
    "appointments",
    "retention",
)
_HALL_KEYS = (
    "id",
    "name_zh",
    "name_en",
    "timezone",
    "day_rollover",
    "enforce_opening_hours",
    "one_active_ticket_per_person",
)
_SERVER_KEYS = ("host", "port", "tls_cert", "tls_key")
_ACCESS_KEYS = ("session_idle", "session_max", "sign_in_hint_zh", "sign_in_hint_en")
_ACCOUNT_KEYS = ("id", "name_zh", "name_en", "roles", "windows", "password_hash", "token_hash")
_ACCOUNT_ID = pattern(
    r"[a-z0-9][a-z0-9._-]{0,31}", 'an account id of lowercase letters, digits, ".", "_" or "-"'
)
# argon2id in the PHC string format that argon2-cffi writes.
_PASSWORD_HASH = pattern(
    r"\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+",
    'an argon2id hash "$argon2id$v=19$..." from `hall-controller hash-secret`',
)
_TOKEN_HASH = pattern(
    r"sha256:[0-9a-f]{64}", 'a token hash "sha256:<64 hex digits>" from `hall-controller new-token`'
)
_STORE_KEYS = ("synchronous", "snapshot_every")
_POLICY_KEYS = (
    "priority_streak_limit",
    "priority_head_start",
    "aging_rate",
    "priority_max_wait_factor",
    "preference_bonus",
    "appointment_early",
    "appointment_late",
    "recall_limit",
)
_THEME_KEYS = (
    "id",
    "name_zh",
    "name_en",
    "prefix",
    "hours",
    "daily_cap",
    "max_wait",
    "default_service",
    "similar",
    "quotas",
    "workload_check",
    "workload_margin",
    "per_slot",
)
_WINDOW_KEYS = ("id", "name_zh", "name_en", "themes", "zone", "post")
_KIOSK_KEYS = ("id", "name_zh", "name_en", "token_hash")
_TICKET_KEYS = ("header", "footer", "show_people_ahead", "show_wait", "qr", "status_url")
_DISPLAY_KEYS = ("notice_zh", "notice_en", "voice")
_ANNOUNCER_KEYS = (
    "templates",
    "languages",
    "one_as_yao",
    "repeat",
    "chime",
    "quiet_hours",
    "volume",
    "clips_dir",
    "emergency_repeat",
)
_KIOSK_ID = pattern(
    r"[a-z0-9][a-z0-9_-]{0,31}", 'a kiosk id of lowercase letters, digits, "_" or "-"'
)
_ZONE = pattern(
    r"[a-z0-9][a-z0-9_-]{0,31}", 'a speaker zone of lowercase letters, digits, "_" or "-"'
)
_GROUP_KEYS = ("id", "name_zh", "name_en", "min_age")
# A window's post (7.1): a comprehensive window (综合办理岗) or the personalised-service post
# (个性化服务岗), which calls the priority groups of every theme first.
_POST = choice(("comprehensive", "personalised"))

# Names people reach for that are not IANA keys; China has a single zone, Asia/Shanghai.
_ZONE_ALIASES = dict.fromkeys(
    (
        "asia/beijing",
        "beijing",
        "china",
        "china standard time",
        "cst",
        "utc+8",
        "utc+08:00",
        "gmt+8",
        "+08:00",
        "beijing time",
    ),
    "Asia/Shanghai",
)


@dataclass(frozen=True, slots=True)
class _HallHead:
    """The [hall] table's own values, before themes and windows are attached."""

    id: str
    name_zh: str
    name_en: str
    timezone: str
    day_rollover: time
    enforce_opening_hours: bool
    one_active_ticket_per_person: bool


@dataclass(frozen=True, slots=True)
class _ThemeEntry:
    """What later checks need from one [[themes]] entry, even when the entry is broken."""

    path: str
    raw_id: str | None
    id: str | None
    prefix: str | None
    theme: Theme | None


def _timezone(r: Reader, table: Table, path: str) -> str | None:
    key = join_key(path, "timezone")
    if "timezone" not in table:
        r.report(key, 'missing; expected a time zone name such as "Asia/Shanghai"')
        return None
    value = table["timezone"]
    if not isinstance(value, str) or not value:
        r.report(key, f'expected a time zone name such as "Asia/Shanghai", got {show_value(value)}')
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        zones = available_timezones()
        suggestion = _ZONE_ALIASES.get(value.lower()) or did_you_mean(value, zones)
        message = f"unknown time zone {quote(value)}"
        if suggestion:
            message += f"; did you mean {quote(suggestion)}?"
        elif not zones:
            message += "; no time zone database found (install the tzdata package)"
        else:
            message += '; expected an IANA name such as "Asia/Shanghai"'
        r.report(key, message)
        return None
    return value


def _read_hall(r: Reader, data: Mapping[str, object]) -> _HallHead | None:
    if "hall" not in data:
        r.report(
            "hall", "missing; expected a [hall] table with id, names, timezone and day_rollover"
        )
        return None
    table = r.table(data["hall"], "hall", _HALL_KEYS, "a [hall] table")
    if table is None:
        return None
    hall_id = r.required(table, "hall", "id", _HALL_ID)
    name_zh = r.required(table, "hall", "name_zh", _TEXT)
    name_en = r.required(table, "hall", "name_en", _TEXT)
    timezone = _timezone(r, table, "hall")
    rollover = r.required(table, "hall", "day_rollover", _TIME)
    enforce = r.optional(table, "hall", "enforce_opening_hours", _BOOL, True)
    one_active = r.optional(table, "hall", "one_active_ticket_per_person", _BOOL, True)
    if hall_id is None or name_zh is None or name_en is None:
        return None
    if timezone is None or rollover is None:
        return None
    return _HallHead(hall_id, name_zh, name_en, timezone, rollover, enforce, one_active)


def _optional_table(
    r: Reader, data: Mapping[str, object], name: str, allowed: Sequence[str]
) -> Table:
    if name not in data:
        return {}
    return r.table(data[name], name, allowed, f"a [{name}] table") or {}


def _read_server(r: Reader, data: Mapping[str, object]) -> ServerSettings:
    table = _optional_table(r, data, "server", _SERVER_KEYS)
    default = ServerSettings()
    cert = r.optional(table, "server", "tls_cert", _TEXT, "")
    key = r.optional(table, "server", "tls_key", _TEXT, "")
    if bool(cert) != bool(key):
        r.report("server", "tls_cert and tls_key go together: set both to serve HTTPS, or neither")
    return ServerSettings(
        host=r.optional(table, "server", "host", _TEXT, default.host),
        port=r.optional(table, "server", "port", _PORT, default.port),
        tls_cert=Path(cert) if cert and key else None,
        tls_key=Path(key) if cert and key else None,
    )


def _read_store(r: Reader, data: Mapping[str, object]) -> StoreSettings:
    table = _optional_table(r, data, "store", _STORE_KEYS)
    default = StoreSettings()
    synchronous: Synchronous = "normal"
    if r.optional(table, "store", "synchronous", _SYNCHRONOUS, default.synchronous) == "full":
        synchronous = "full"
    return StoreSettings(
        synchronous=synchronous,
        snapshot_every=r.optional(
            table, "store", "snapshot_every", _SNAPSHOT_EVERY, default.snapshot_every
        ),
    )


def _read_policy(r: Reader, data: Mapping[str, object]) -> Policy:
    table = _optional_table(r, data, "policy", _POLICY_KEYS)
    d = Policy()
    p = "policy"
    return Policy(
        priority_streak_limit=r.optional(
            table,
            p,
            "priority_streak_limit",
            integer(1, None, "an integer >= 1"),
            d.priority_streak_limit,
        ),
        priority_head_start_s=r.optional(
            table, p, "priority_head_start", _DURATION_OR_ZERO, d.priority_head_start_s
        ),
        aging_rate=r.optional(
            table, p, "aging_rate", real(0.0, None, "a number greater than 0"), d.aging_rate
        ),
        priority_max_wait_factor=r.optional(
            table,
            p,
            "priority_max_wait_factor",
            real(0.0, 1.0, "a number greater than 0 and at most 1"),
            d.priority_max_wait_factor,
        ),
        preference_bonus_s=r.optional(
            table, p, "preference_bonus", _DURATION_OR_ZERO, d.preference_bonus_s
        ),
        appointment_early_s=r.optional(
            table, p, "appointment_early", _DURATION_OR_ZERO, d.appointment_early_s
        ),
        appointment_late_s=r.optional(
            table, p, "appointment_late", _POSITIVE_DURATION, d.appointment_late_s
        ),
        recall_limit=r.optional(
            table, p, "recall_limit", integer(0, None, "an integer >= 0"), d.recall_limit
        ),
    )


def _read_hours(
    r: Reader, table: Table, path: str, rollover: time | None
) -> tuple[OpeningPeriod, ...] | None:
    key = join_key(path, "hours")
    expected = 'a non-empty array of opening periods such as ["09:00-12:00", "13:30-17:00"]'
    if "hours" not in table:
        r.report(key, f"missing; expected {expected}")
        return None
    value = table["hours"]
    if not isinstance(value, list) or not value:
        r.report(key, f"expected {expected}, got {show_value(value)}")
        return None
    periods: list[tuple[str, OpeningPeriod]] = []
    ok = True
    for index, item in enumerate(value):
        item_key = f"{key}[{index}]"
        match = _PERIOD_RE.fullmatch(item) if isinstance(item, str) else None
        start = clock(match.group(1)) if match else None
        end = clock(match.group(4)) if match else None
        if start is None or end is None:
            r.report(item_key, f"expected {_PERIOD_EXPECTED}, got {show_value(item)}")
            ok = False
            continue
        if start >= end:
            r.report(
                item_key,
                f"expected an opening period that starts before it ends, got {show_value(item)}",
            )
            ok = False
            continue
        if rollover is not None and start < rollover < end:
            r.report(
                item_key,
                f"opening period {show_value(item)} spans the day rollover "
                f"{rollover.strftime('%H:%M')} (hall.day_rollover); split it at that time",
            )
            ok = False
        periods.append((item, OpeningPeriod(start, end)))
    ordered = sorted(periods, key=lambda entry: entry[1].start)
    for (earlier_text, earlier), (later_text, later) in itertools.pairwise(ordered):
        if later.start < earlier.end:
            r.report(
                key,
                f"opening periods {show_value(earlier_text)} and {show_value(later_text)} overlap",
            )
            ok = False
    if not ok:
        return None
    return tuple(period for _, period in ordered)


def _read_theme(r: Reader, value: Table, path: str, rollover: time | None) -> _ThemeEntry:
    table = r.table(value, path, _THEME_KEYS, "a table")
    if table is None:
        return _ThemeEntry(path, None, None, None, None)
    raw_id = table.get("id")
    theme_id = r.required(table, path, "id", _THEME_ID)
    name_zh = r.required(table, path, "name_zh", _TEXT)
    name_en = r.required(table, path, "name_en", _TEXT)
    prefix = r.required(table, path, "prefix", _PREFIX)
    hours = _read_hours(r, table, path, rollover)
    cap = (
        r.check(table["daily_cap"], f"{path}.daily_cap", _DAILY_CAP)
        if "daily_cap" in table
        else None
    )
    max_wait = r.required(table, path, "max_wait", _POSITIVE_DURATION)
    service = r.required(table, path, "default_service", _POSITIVE_DURATION)
    theme = None
    if (
        theme_id is not None
        and name_zh is not None
        and name_en is not None
        and prefix is not None
        and hours is not None
        and max_wait is not None
        and service is not None
    ):
        theme = Theme(theme_id, name_zh, name_en, prefix, hours, cap, max_wait, service)
    similar = _read_similar(r, table, path)
    if theme is not None and similar:
        theme = dataclasses.replace(theme, similar=similar)
    capacity = _read_capacity(r, table, path, hours)
    if theme is not None and capacity is not None:
        theme = dataclasses.replace(theme, capacity=capacity)
    return _ThemeEntry(path, raw_id if isinstance(raw_id, str) else None, theme_id, prefix, theme)


def _read_similar(r: Reader, table: Table, path: str) -> tuple[str, ...]:
    """A theme's similar themes (ids only; whether they exist is checked once all are read)."""
    if "similar" not in table:
        return ()
    key = f"{path}.similar"
    value = table["similar"]
    expected = "an array of theme ids whose windows stand in for this theme's"
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        r.report(key, f"expected {expected}, got {show_value(value)}")
        return ()
    if len(set(value)) != len(value):
        r.report(key, "a theme is listed twice")
        return ()
    if table.get("id") in value:
        r.report(key, "a theme cannot stand in for itself")
        return ()
    return tuple(value)


def _check_similar(r: Reader, entries: list[_ThemeEntry]) -> None:
    """Every similar theme named must be one of the hall's themes (with a did-you-mean)."""
    known = [e.raw_id for e in entries if e.raw_id is not None]
    for entry in entries:
        if entry.theme is None:
            continue
        for index, other in enumerate(entry.theme.similar):
            if other not in known:
                suggestion = did_you_mean(other, known)
                hint = f"; did you mean {quote(suggestion)}?" if suggestion else ""
                r.report(f"{entry.path}.similar[{index}]", f"unknown theme {quote(other)}{hint}")


_QUOTA_EXPECTED = 'a quota "09:00-12:00=120" (a time window and the tickets it gives)'
_QUOTA_RE = re.compile(rf"\s*({CLOCK_RE})\s*-\s*({CLOCK_RE})\s*=\s*(\d+)\s*")
_PER_SLOT = integer(0, 1000, "a whole number of bookings per slot (0: no slots)")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_APPOINTMENT_KEYS = ("slot", "per_slot", "days_ahead", "weekdays")
_CAPACITY_KEYS = ("quotas", "workload_check", "workload_margin", "per_slot")


def _read_capacity(
    r: Reader, table: Table, path: str, hours: tuple[OpeningPeriod, ...] | None
) -> Capacity | None:
    """A theme's quotas, workload check and bookings per slot (10.3.4); None when it sets none."""
    if not any(name in table for name in _CAPACITY_KEYS):
        return None
    default = Capacity()
    per_slot = (
        r.check(table["per_slot"], join_key(path, "per_slot"), _PER_SLOT)
        if "per_slot" in table
        else None
    )
    return Capacity(
        quotas=_read_quotas(r, table, path, hours),
        workload_check=r.optional(table, path, "workload_check", _BOOL, default.workload_check),
        workload_margin_s=r.optional(
            table, path, "workload_margin", _DURATION_OR_ZERO, default.workload_margin_s
        ),
        per_slot=per_slot,
    )


def _read_quotas(
    r: Reader, table: Table, path: str, hours: tuple[OpeningPeriod, ...] | None
) -> tuple[Quota, ...]:
    """Quotas per time window, each inside one of the theme's opening periods, none
    overlapping, earliest first."""
    if "quotas" not in table:
        return ()
    key = join_key(path, "quotas")
    value = table["quotas"]
    if not isinstance(value, list):
        r.report(key, f'expected an array such as ["09:00-12:00=120"], got {show_value(value)}')
        return ()
    quotas: list[tuple[str, Quota]] = []
    for index, item in enumerate(value):
        item_key = f"{key}[{index}]"
        match = _QUOTA_RE.fullmatch(item) if isinstance(item, str) else None
        start = clock(match.group(1)) if match else None
        end = clock(match.group(4)) if match else None
        if match is None or start is None or end is None:
            r.report(item_key, f"expected {_QUOTA_EXPECTED}, got {show_value(item)}")
            continue
        if start >= end:
            r.report(
                item_key, f"expected a window that starts before it ends, got {show_value(item)}"
            )
            continue
        if hours is not None and not any(p.start <= start and end <= p.end for p in hours):
            within = ", ".join(f"{p.start:%H:%M}-{p.end:%H:%M}" for p in hours)
            r.report(
                item_key,
                f"{show_value(item)} is not within one of the theme's opening periods ({within})",
            )
            continue
        quotas.append((item, Quota(start, end, int(match.group(7)))))
    quotas.sort(key=lambda entry: entry[1].start)
    for (earlier_text, earlier), (later_text, later) in itertools.pairwise(quotas):
        if later.start < earlier.end:
            r.report(key, f"quotas {show_value(earlier_text)} and {show_value(later_text)} overlap")
    return tuple(quota for _, quota in quotas)


def _read_appointment_slots(r: Reader, data: Mapping[str, object]) -> SlotGrid:
    """The [appointments] table: the slot grid a full theme offers at the kiosk."""
    table = _optional_table(r, data, "appointments", _APPOINTMENT_KEYS)
    d = SlotGrid()
    a = "appointments"
    slot = r.optional(table, a, "slot", _POSITIVE_DURATION, d.slot_s)
    if not 300 <= slot <= 4 * 3600:
        r.report(f"{a}.slot", f'expected a slot from "5m" to "4h", got {show_value(table["slot"])}')
        slot = d.slot_s
    weekdays = d.weekdays
    if "weekdays" in table:
        value = table["weekdays"]
        expected = 'an array of days such as ["mon", "tue", "wed", "thu", "fri"]'
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            r.report(f"{a}.weekdays", f"expected {expected}, got {show_value(value)}")
        else:
            days: list[int] = []
            for index, day in enumerate(value):
                if day.lower() in _WEEKDAYS:
                    days.append(_WEEKDAYS.index(day.lower()))
                    continue
                suggestion = did_you_mean(day, _WEEKDAYS)
                hint = f"; did you mean {quote(suggestion)}?" if suggestion else ""
                r.report(
                    f"{a}.weekdays[{index}]",
                    f"expected a day of {', '.join(_WEEKDAYS)}, got {show_value(day)}{hint}",
                )
            weekdays = tuple(sorted(set(days))) or weekdays
    return SlotGrid(
        slot_s=slot,
        per_slot=r.optional(table, a, "per_slot", _PER_SLOT, d.per_slot),
        days_ahead=r.optional(
            table, a, "days_ahead", integer(1, 60, "a number of days from 1 to 60"), d.days_ahead
        ),
        weekdays=weekdays,
    )


def _read_themes(
    r: Reader, data: Mapping[str, object], rollover: time | None
) -> list[_ThemeEntry] | None:
    tables = r.tables(data, "themes", required=True)
    if tables is None:
        return None
    entries: list[_ThemeEntry] = []
    first_by_id: dict[str, _ThemeEntry] = {}
    first_by_prefix: dict[str, _ThemeEntry] = {}
    for index, table in enumerate(tables):
        entry = _read_theme(r, table, f"themes[{index}]", rollover)
        entries.append(entry)
        if entry.id is not None:
            if entry.id in first_by_id:
                other = first_by_id[entry.id].path
                r.report(
                    f"{entry.path}.id", f"duplicate theme id {quote(entry.id)}; {other} has it"
                )
            else:
                first_by_id[entry.id] = entry
        if entry.prefix is not None:
            if entry.prefix in first_by_prefix:
                other_entry = first_by_prefix[entry.prefix]
                owner = f"theme {quote(other_entry.id)}" if other_entry.id else other_entry.path
                r.report(
                    f"{entry.path}.prefix",
                    f"duplicate prefix {quote(entry.prefix)}; "
                    f"{owner} ({other_entry.path}) already uses it",
                )
            else:
                first_by_prefix[entry.prefix] = entry
    _check_similar(r, entries)
    return entries


def _read_window_themes(
    r: Reader, table: Table, path: str, known: Sequence[str] | None, referenced: set[str]
) -> tuple[str, ...] | None:
    key = f"{path}.themes"
    expected = "a non-empty array of theme ids, most preferred first"
    if "themes" not in table:
        r.report(key, f"missing; expected {expected}")
        return None
    value = table["themes"]
    if not isinstance(value, list) or not value:
        r.report(key, f"expected {expected}, got {show_value(value)}")
        return None
    result: list[str] = []
    ok = True
    for index, item in enumerate(value):
        item_key = f"{key}[{index}]"
        if not isinstance(item, str):
            r.report(item_key, f"expected a theme id string, got {show_value(item)}")
            ok = False
        elif item in result:
            r.report(item_key, f"theme {quote(item)} is listed twice")
            ok = False
        elif known is not None and item not in known:
            suggestion = did_you_mean(item, known)
            message = f"unknown theme {quote(item)}"
            if suggestion:
                message += f"; did you mean {quote(suggestion)}?"
                # The typo is already reported: do not also complain the theme is unserved.
                referenced.add(suggestion)
            else:
                names = ", ".join(quote(k) for k in dict.fromkeys(known))
                message += f"; the themes are {names}"
            r.report(item_key, message)
            ok = False
        else:
            result.append(item)
            referenced.add(item)
    return tuple(result) if ok else None


def _read_windows(
    r: Reader, data: Mapping[str, object], themes: list[_ThemeEntry] | None
) -> list[Window | None] | None:
    tables = r.tables(data, "windows", required=True)
    if tables is None:
        return None
    # Broken theme ids still count as known, so one mistake is not reported twice.
    known = None if themes is None else [e.raw_id for e in themes if e.raw_id is not None]
    referenced: set[str] = set()
    windows: list[Window | None] = []
    first_by_id: dict[str, str] = {}
    for index, value in enumerate(tables):
        path = f"windows[{index}]"
        table = r.table(value, path, _WINDOW_KEYS, "a table")
        if table is None:
            windows.append(None)
            continue
        window_id = r.required(table, path, "id", _WINDOW_ID)
        name_zh = r.required(table, path, "name_zh", _TEXT)
        name_en = r.required(table, path, "name_en", _TEXT)
        served = _read_window_themes(r, table, path, known, referenced)
        zone = r.optional(table, path, "zone", _ZONE, "") or None
        post = r.optional(table, path, "post", _POST, "comprehensive")
        if window_id is not None:
            if window_id in first_by_id:
                r.report(
                    f"{path}.id",
                    f"duplicate window id {quote(window_id)}; {first_by_id[window_id]} has it",
                )
            else:
                first_by_id[window_id] = path
        if window_id is None or name_zh is None or name_en is None or served is None:
            windows.append(None)
        else:
            windows.append(
                Window(
                    window_id,
                    name_zh,
                    name_en,
                    served,
                    zone,
                    personalised=post == "personalised",
                )
            )
    if themes is not None:
        for entry in themes:
            if entry.raw_id is not None and entry.raw_id not in referenced:
                r.report(
                    entry.path,
                    f"no window serves theme {quote(entry.raw_id)}; "
                    "add it to the themes of at least one [[windows]] entry",
                )
    return windows


def _read_groups(r: Reader, data: Mapping[str, object]) -> list[PriorityGroup | None]:
    if "priority_groups" not in data:
        return list(DEFAULT_PRIORITY_GROUPS)
    tables = r.tables(data, "priority_groups", required=False)
    if tables is None:
        return [None]
    groups: list[PriorityGroup | None] = []
    first_by_id: dict[str, str] = {}
    aged_path: str | None = None
    for index, value in enumerate(tables):
        path = f"priority_groups[{index}]"
        table = r.table(value, path, _GROUP_KEYS, "a table")
        if table is None:
            groups.append(None)
            continue
        group_id = r.required(table, path, "id", _GROUP_ID)
        name_zh = r.required(table, path, "name_zh", _TEXT)
        name_en = r.required(table, path, "name_en", _TEXT)
        min_age = (
            r.check(table["min_age"], f"{path}.min_age", _MIN_AGE) if "min_age" in table else None
        )
        if group_id is not None:
            if group_id in first_by_id:
                r.report(
                    f"{path}.id",
                    f"duplicate group id {quote(group_id)}; {first_by_id[group_id]} has it",
                )
            else:
                first_by_id[group_id] = path
        if min_age is not None:
            if aged_path is not None:
                r.report(
                    f"{path}.min_age",
                    f"only one group may have min_age; {aged_path} already has it",
                )
            else:
                aged_path = path
        if group_id is None or name_zh is None or name_en is None:
            groups.append(None)
        else:
            groups.append(PriorityGroup(group_id, name_zh, name_en, min_age))
    return groups


def _read_settings(data: Mapping[str, object], r: Reader, source: Path) -> Settings:
    r.table(data, "", _TOP_KEYS, "a table")
    head = _read_hall(r, data)
    server = _read_server(r, data)
    store = _read_store(r, data)
    policy = _read_policy(r, data)
    rollover = head.day_rollover if head is not None else None
    theme_entries = _read_themes(r, data, rollover)
    windows = _read_windows(r, data, theme_entries)
    groups = _read_groups(r, data)
    kiosks, kiosk_tokens = _read_kiosks(r, data)
    themes = [entry.theme for entry in theme_entries or []]
    if r.issues or head is None or theme_entries is None or windows is None:
        raise ConfigError(tuple(r.issues))
    complete_themes = tuple(theme for theme in themes if theme is not None)
    complete_windows = tuple(window for window in windows if window is not None)
    complete_groups = tuple(group for group in groups if group is not None)
    if (
        len(complete_themes) != len(themes)
        or len(complete_windows) != len(windows)
        or len(complete_groups) != len(groups)
    ):
        # Every incomplete entry was reported; reaching here means a check forgot to report.
        raise ConfigError((ConfigIssue(r.file, "", "incomplete configuration"),))
    hall = HallConfig(
        id=head.id,
        name_zh=head.name_zh,
        name_en=head.name_en,
        timezone=head.timezone,
        day_rollover=head.day_rollover,
        themes=complete_themes,
        windows=complete_windows,
        priority_groups=complete_groups,
        policy=policy,
        enforce_opening_hours=head.enforce_opening_hours,
        one_active_ticket_per_person=head.one_active_ticket_per_person,
        kiosks=kiosks,
        ticket=_read_ticket(r, data),
        display=_read_display(r, data),
        ratings=_read_ratings(r, data),
        appointment_slots=_read_appointment_slots(r, data),
    )
    mqtt = _read_mqtt(r, data, source)
    devices = _read_devices(
        r, data, source, {w.id for w in complete_windows}, mqtt, {k.id for k in kiosks}
    )
    announcer = _read_announcer(r, data, source, head.timezone)
    access = _read_access(r, data, kiosk_tokens, {w.id for w in complete_windows})
    notifications = _read_notifications(r, data, source)
    retention = _read_retention(r, data)
    if r.issues:
        raise ConfigError(tuple(r.issues))
    return Settings(
        hall=hall,
        server=server,
        store=store,
        source=source,
        mqtt=mqtt,
        devices=devices,
        announcer=announcer,
        access=access,
        notifications=notifications,
        retention=retention,
    )


def _read_kiosks(r: Reader, data: Mapping[str, object]) -> tuple[tuple[Kiosk, ...], dict[str, str]]:
    """The kiosks, and the token hash of each kiosk that has one."""
    tables = r.tables(data, "kiosks", required=False) or []
    kiosks: list[Kiosk] = []
    tokens: dict[str, str] = {}
    token_paths: dict[str, str] = {}
    first: dict[str, str] = {}
    for index, value in enumerate(tables):
        path = f"kiosks[{index}]"
        table = r.table(value, path, _KIOSK_KEYS, "a table")
        if table is None:
            continue
        kiosk_id = r.required(table, path, "id", _KIOSK_ID)
        name_zh = r.required(table, path, "name_zh", _TEXT)
        name_en = r.required(table, path, "name_en", _TEXT)
        if kiosk_id is not None and kiosk_id in first:
            r.report(
                f"{path}.id", f"duplicate kiosk id {quote(kiosk_id)}; {first[kiosk_id]} has it"
            )
            continue
        token_hash = r.optional(table, path, "token_hash", _TOKEN_HASH, "")
        if token_hash and token_hash in token_paths:
            r.report(f"{path}.token_hash", _shared_token(token_paths[token_hash]))
            continue
        if kiosk_id is not None and name_zh is not None and name_en is not None:
            first[kiosk_id] = path
            kiosks.append(Kiosk(kiosk_id, name_zh, name_en))
            if token_hash:
                tokens[kiosk_id] = token_hash
                token_paths[token_hash] = path
    return tuple(kiosks), tokens


def _shared_token(owner: str) -> str:
    # One token for two kiosks or systems would let each sign in as the other.
    return (
        f"the same token as {owner}; "
        "each kiosk and system has its own (`hall-controller new-token`)"
    )


def _read_access(
    r: Reader, data: Mapping[str, object], kiosk_tokens: dict[str, str], windows: set[str]
) -> AccessSettings:
    table = _optional_table(r, data, "access", _ACCESS_KEYS)
    d = AccessSettings()
    idle = r.optional(table, "access", "session_idle", _POSITIVE_DURATION, d.session_idle_s)
    longest = r.optional(table, "access", "session_max", _POSITIVE_DURATION, d.session_max_s)
    if idle > longest:
        r.report("access.session_idle", "expected at most session_max")
    accounts: list[Account] = []
    first: dict[str, str] = {}
    token_owners = {token: f"kiosk {quote(kiosk)}" for kiosk, token in kiosk_tokens.items()}
    for index, value in enumerate(r.tables(data, "accounts", required=False) or []):
        path = f"accounts[{index}]"
        account = _read_account(r, value, path, windows)
        if account is None:
            continue
        if account.id in first:
            r.report(
                f"{path}.id",
                f"duplicate account id {quote(account.id)}; {first[account.id]} has it",
            )
            continue
        if account.token_hash is not None:
            if account.token_hash in token_owners:
                r.report(f"{path}.token_hash", _shared_token(token_owners[account.token_hash]))
                continue
            token_owners[account.token_hash] = path
        first[account.id] = path
        accounts.append(account)
    return AccessSettings(
        accounts=tuple(accounts),
        kiosk_tokens=MappingProxyType(kiosk_tokens),
        session_idle_s=idle,
        session_max_s=longest,
        sign_in_hint_zh=r.optional(table, "access", "sign_in_hint_zh", _TEXT, ""),
        sign_in_hint_en=r.optional(table, "access", "sign_in_hint_en", _TEXT, ""),
    )


def _read_names(
    r: Reader, table: Table, path: str, key: str, options: Sequence[str], what: str
) -> list[str] | None:
    """A list of names each from `options`; None when absent, after reporting when wrong."""
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, list) or not value:
        r.report(join_key(path, key), f"expected a non-empty list of {what}s")
        return None
    names: list[str] = []
    for item in value:
        if not isinstance(item, str) or item not in options:
            hint = did_you_mean(item, options) if isinstance(item, str) else ""
            known = ", ".join(quote(o) for o in options)
            r.report(
                join_key(path, key),
                f"unknown {what} {show_value(item)}"
                + (f"; did you mean {quote(hint)}?" if hint else f" (known: {known})"),
            )
            return None
        names.append(item)
    return names


def _read_account(r: Reader, value: object, path: str, windows: set[str]) -> Account | None:
    table = r.table(value, path, _ACCOUNT_KEYS, "a table")
    if table is None:
        return None
    account_id = r.required(table, path, "id", _ACCOUNT_ID)
    name_zh = r.required(table, path, "name_zh", _TEXT)
    name_en = r.optional(table, path, "name_en", _TEXT, "")
    if "roles" not in table:
        r.report(f"{path}.roles", f"missing; expected a list of {', '.join(ACCOUNT_ROLES)}")
    roles = _read_names(r, table, path, "roles", ACCOUNT_ROLES, "role")
    allowed = _read_names(r, table, path, "windows", sorted(windows), "window")
    password = r.optional(table, path, "password_hash", _PASSWORD_HASH, "")
    token = r.optional(table, path, "token_hash", _TOKEN_HASH, "")
    if not password and not token and "password_hash" not in table and "token_hash" not in table:
        r.report(path, "expected password_hash (a person) or token_hash (a system), or both")
    if allowed is not None and roles is not None and "staff" not in roles:
        r.report(f"{path}.windows", "only a staff account has windows")
    if account_id is None or name_zh is None or roles is None:
        return None
    return Account(
        id=account_id,
        name_zh=name_zh,
        name_en=name_en or account_id,
        roles=frozenset(r for r in ACCOUNT_ROLES if r in roles),
        windows=frozenset(allowed) if allowed is not None else None,
        password_hash=password or None,
        token_hash=token or None,
    )


def _read_ticket(r: Reader, data: Mapping[str, object]) -> TicketLayout:
    table = r.table(data.get("ticket", {}), "ticket", _TICKET_KEYS, "a [ticket] table") or {}
    d = TicketLayout()
    url = r.optional(table, "ticket", "status_url", _TEXT, d.status_url)
    if "{link}" not in url or not url.startswith(("http://", "https://")):
        r.report(
            "ticket.status_url",
            'expected the status page\'s address with "{link}" in it, such as '
            '"http://hall.example/t/{link}"',
        )
    return TicketLayout(
        header=r.optional(table, "ticket", "header", _TEXT, "") or None,
        footer=r.optional(table, "ticket", "footer", Kind("a string", _any_text), d.footer),
        show_people_ahead=r.optional(
            table, "ticket", "show_people_ahead", _BOOL, d.show_people_ahead
        ),
        show_wait=r.optional(table, "ticket", "show_wait", _BOOL, d.show_wait),
        qr=r.optional(table, "ticket", "qr", _BOOL, d.qr),
        status_url=url,
    )


def _notice(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200 or "\n" in value:
        raise Invalid
    return value.strip()


_NOTICE = Kind("one line of text, at most 200 characters", _notice)


def _read_display(r: Reader, data: Mapping[str, object]) -> HallDisplay:
    table = _optional_table(r, data, "display", _DISPLAY_KEYS)
    d = HallDisplay()
    return HallDisplay(
        notice_zh=r.optional(table, "display", "notice_zh", _NOTICE, "") or None,
        notice_en=r.optional(table, "display", "notice_en", _NOTICE, "") or None,
        voice=r.optional(table, "display", "voice", _BOOL, d.voice),
    )


def _any_text(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid("expected a string")
    return value


_REPEAT = integer(1, 5, "a number of times from 1 to 5")
# What an announcement template may say (protocols/announcement.py fills them in).
_PLACEHOLDERS = ("ticket", "window", "window_name")
_PERCENT = integer(0, 100, "a volume in percent from 0 to 100")
# How often an emergency's message is spoken again: not so often that it never falls silent.
_EMERGENCY_REPEAT = seconds(10.0, 3600.0)


def _read_announcer(
    r: Reader, data: Mapping[str, object], source: Path, timezone: str
) -> AnnouncerSettings:
    table = r.table(data.get("announcer", {}), "announcer", _ANNOUNCER_KEYS, "a table") or {}
    d = AnnouncerSettings()
    templates = dict(d.templates)
    raw = table.get("templates", {})
    if not isinstance(raw, dict):
        r.report(
            "announcer.templates", 'expected a table of languages to texts, such as zh = "..."'
        )
        raw = {}
    for language, text in raw.items():
        key = join_key("announcer.templates", language)
        template = r.check(text, key, _TEXT)
        if template is None:
            continue
        if "{ticket}" not in template:
            r.report(key, 'expected a text containing "{ticket}" (and usually "{window}")')
            continue
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        except ValueError:
            r.report(key, 'expected balanced braces: "{" and "}" only around a placeholder')
            continue
        unknown = sorted(names - set(_PLACEHOLDERS))
        if unknown:
            r.report(
                key,
                f"unknown placeholder {{{unknown[0]}}}; expected "
                + ", ".join(f"{{{name}}}" for name in _PLACEHOLDERS),
            )
            continue
        templates[language] = template
    languages: list[str] = []
    raw_languages = table.get("languages", list(d.languages))
    if not isinstance(raw_languages, list) or not raw_languages:
        r.report("announcer.languages", 'expected a non-empty array of languages, such as ["zh"]')
    else:
        for index, language in enumerate(raw_languages):
            key = f"announcer.languages[{index}]"
            if language not in templates:
                hint = did_you_mean(str(language), templates)
                r.report(
                    key,
                    f"no template for {show_value(language)}"
                    + (f"; did you mean {quote(hint)}?" if hint else "")
                    + f" (templates: {', '.join(sorted(templates))})",
                )
            else:
                languages.append(str(language))
    quiet: list[tuple[time, time]] = []
    raw_quiet = table.get("quiet_hours", [])
    if not isinstance(raw_quiet, list):
        r.report("announcer.quiet_hours", 'expected an array such as ["12:00-13:30"]')
        raw_quiet = []
    for index, item in enumerate(raw_quiet):
        match = _PERIOD_RE.fullmatch(item) if isinstance(item, str) else None
        start = clock(match.group(1)) if match else None
        end = clock(match.group(4)) if match else None
        if start is None or end is None or start == end:
            r.report(f"announcer.quiet_hours[{index}]", f"expected {_PERIOD_EXPECTED}")
            continue
        quiet.append((start, end))
    volume: list[tuple[time, int]] = []
    raw_volume = table.get("volume", {})
    if not isinstance(raw_volume, dict):
        r.report("announcer.volume", 'expected a table of times to percents, such as "08:30" = 80')
        raw_volume = {}
    for moment, percent in raw_volume.items():
        key = join_key("announcer.volume", moment)
        at = clock(moment)
        level = r.check(percent, key, _PERCENT)
        if at is None:
            r.report(key, 'expected a time "HH:MM" as the key')
        elif level is not None:
            volume.append((at, level))
    clips = r.optional(table, "announcer", "clips_dir", _TEXT, "")
    return AnnouncerSettings(
        templates=MappingProxyType(templates),
        languages=tuple(languages) or d.languages,
        one_as_yao=r.optional(table, "announcer", "one_as_yao", _BOOL, d.one_as_yao),
        repeat=r.optional(table, "announcer", "repeat", _REPEAT, d.repeat),
        chime=r.optional(table, "announcer", "chime", _BOOL, d.chime),
        timezone=timezone,
        quiet_hours=tuple(quiet),
        volume=tuple(sorted(volume)),
        clips_dir=(source.parent / clips) if clips else None,
        emergency_repeat_s=r.optional(
            table, "announcer", "emergency_repeat", _EMERGENCY_REPEAT, d.emergency_repeat_s
        ),
    )


_MQTT_KEYS = ("host", "port", "username", "password_file", "keepalive", "max_inflight")
_PROFILES_KEYS = ("dir",)
_DEVICE_KEYS = (
    "id",
    "profile",
    "window",
    "port",
    "address",
    "pins",
    "remotes",
    "transfer_to",
    "kiosk",
    "zone",
)
_DEVICE_ID = pattern(
    r"[a-z0-9][a-z0-9_-]{0,47}", 'a device id of lowercase letters, digits, "_" or "-"'
)
_BUS_ADDRESS = integer(0, 0xFFFF, "a bus address from 0 to 65535")
_PIN = integer(0, 63, "a GPIO pin number (BCM) from 0 to 63")
_KEEPALIVE = integer(5, 600, "seconds from 5 to 600")
_INFLIGHT = integer(1, 65535, "a number of messages from 1 to 65535")


def _read_mqtt(r: Reader, data: Mapping[str, object], source: Path) -> MqttSettings | None:
    if "mqtt" not in data:
        return None
    table = r.table(data["mqtt"], "mqtt", _MQTT_KEYS, "a table")
    if table is None:
        return None
    d = MqttSettings()
    password = r.optional(table, "mqtt", "password_file", _TEXT, "")
    return MqttSettings(
        host=r.optional(table, "mqtt", "host", _TEXT, d.host),
        port=r.optional(table, "mqtt", "port", _PORT, d.port),
        username=r.optional(table, "mqtt", "username", _TEXT, "") or None,
        password_file=(source.parent / password) if password else None,
        keepalive_s=r.optional(table, "mqtt", "keepalive", _KEEPALIVE, d.keepalive_s),
        max_inflight=r.optional(table, "mqtt", "max_inflight", _INFLIGHT, d.max_inflight),
    )


_RATINGS_KEYS = ("callback_within", "rectify_within", "require_before_next")
# A follow-up's deadlines are counted in days; a year is the most a hall may allow.
_FOLLOW_UP_SPAN = span(365)


def _read_ratings(r: Reader, data: Mapping[str, object]) -> RatingRules:
    """[ratings]: a poor rating's follow-up deadlines, and whether a window must ask for each
    service's rating before it calls again."""
    table = _optional_table(r, data, "ratings", _RATINGS_KEYS)
    d = RatingRules()
    known = len(r.issues)
    callback = r.optional(table, "ratings", "callback_within", _FOLLOW_UP_SPAN, d.callback_within_s)
    rectify = r.optional(table, "ratings", "rectify_within", _FOLLOW_UP_SPAN, d.rectify_within_s)
    # Compared only when both were read as written (a default would only blur the report).
    if len(r.issues) == known and rectify < callback:
        r.report(
            "ratings.rectify_within",
            "must be at least callback_within: the applicant is called back before the cause "
            "is put right",
        )
    return RatingRules(
        callback_within_s=callback,
        rectify_within_s=rectify,
        require_before_next=r.optional(
            table, "ratings", "require_before_next", _BOOL, d.require_before_next
        ),
    )


_NOTIFICATION_KEYS = ("webhook_url", "token_file", "near", "timeout", "retries")
_WEBHOOK_URL = pattern(r"https?://[^\s/?#]+[^\s]*", 'an "http://" or "https://" URL')
_NEAR = integer(0, 50, "a number of people ahead from 0 to 50")
_NOTICE_TIMEOUT = seconds(0.1, 60.0)
_RETRIES = integer(0, 20, "a number of retries from 0 to 20")


def _read_notifications(
    r: Reader, data: Mapping[str, object], source: Path
) -> NotificationSettings | None:
    if "notifications" not in data:
        return None
    table = r.table(data["notifications"], "notifications", _NOTIFICATION_KEYS, "a table")
    if table is None:
        return None
    url = r.required(table, "notifications", "webhook_url", _WEBHOOK_URL)
    if url is None:
        return None
    d = NotificationSettings(url)
    token = r.optional(table, "notifications", "token_file", _TEXT, "")
    return NotificationSettings(
        webhook_url=url,
        token_file=(source.parent / token) if token else None,
        near=r.optional(table, "notifications", "near", _NEAR, d.near),
        timeout_s=r.optional(table, "notifications", "timeout", _NOTICE_TIMEOUT, d.timeout_s),
        retries=r.optional(table, "notifications", "retries", _RETRIES, d.retries),
    )


_RETENTION_KEYS = ("personal_data",)
_END_OF_DAY = "end_of_day"
_KEPT_SPAN = span(3650)
_KEPT_EXPECTED = f'"{_END_OF_DAY}" or a time after the day\'s end such as "7d" or "36h"'


def _kept_after_day(value: object) -> int:
    if value == _END_OF_DAY:
        return 0
    try:
        return _KEPT_SPAN.convert(value)
    except Invalid as exc:
        message = exc.message or f"expected {_KEPT_EXPECTED}, got {show_value(value)}"
        if isinstance(value, str) and did_you_mean(value.replace("-", "_"), [_END_OF_DAY]):
            message += f"; did you mean {quote(_END_OF_DAY)}?"
        raise Invalid(message) from None


_KEPT_AFTER_DAY = Kind(_KEPT_EXPECTED, _kept_after_day)


def _read_retention(r: Reader, data: Mapping[str, object]) -> RetentionSettings:
    table = _optional_table(r, data, "retention", _RETENTION_KEYS)
    d = RetentionSettings()
    kept = r.optional(table, "retention", "personal_data", _KEPT_AFTER_DAY, d.personal_data_s)
    return RetentionSettings(personal_data_s=kept)


def _read_profile_dir(
    r: Reader, data: Mapping[str, object], source: Path
) -> Mapping[str, DeviceProfile] | None:
    table = r.table(data.get("profiles", {}), "profiles", _PROFILES_KEYS, "a table")
    relative = r.optional(table or {}, "profiles", "dir", _TEXT, "../device_profiles")
    directory = (source.parent / relative).resolve()
    try:
        return load_profiles(directory)
    except ConfigError as exc:
        r.issues.extend(exc.issues)
        return None


def _read_devices(
    r: Reader,
    data: Mapping[str, object],
    source: Path,
    windows: set[str],
    mqtt: MqttSettings | None,
    kiosks: set[str],
) -> tuple[DeviceConfig, ...]:
    tables = r.tables(data, "devices", required=False)
    if not tables:
        return ()
    profiles = _read_profile_dir(r, data, source)
    devices: list[DeviceConfig] = []
    seen: dict[str, str] = {}
    bus_users: dict[tuple[str, int], str] = {}
    bus_lines: dict[str, tuple[str, object]] = {}
    for index, value in enumerate(tables):
        path = f"devices[{index}]"
        table = r.table(value, path, _DEVICE_KEYS, "a table")
        if table is None:
            continue
        before = len(r.issues)
        device_id = r.required(table, path, "id", _DEVICE_ID)
        if device_id is not None:
            if device_id in seen:
                r.report(f"{path}.id", f"duplicate device id {quote(device_id)}; {seen[device_id]}")
            seen.setdefault(device_id, path)
        profile_id = r.required(table, path, "profile", _TEXT)
        profile = None
        if profile_id is not None and profiles is not None:
            profile = profiles.get(profile_id)
            if profile is None:
                hint = did_you_mean(profile_id, profiles)
                r.report(
                    f"{path}.profile",
                    f"no device profile {quote(profile_id)}"
                    + (f"; did you mean {quote(hint)}?" if hint else "")
                    + f" (known: {', '.join(sorted(profiles))})",
                )
        window = r.optional(table, path, "window", _WINDOW_ID, "") or None
        if window is not None and window not in windows:
            hint = did_you_mean(window, windows)
            r.report(
                f"{path}.window",
                f"no window {quote(window)}" + (f"; did you mean {quote(hint)}?" if hint else ""),
            )
        transfer_to = r.optional(table, path, "transfer_to", _WINDOW_ID, "") or None
        if transfer_to is not None and transfer_to not in windows:
            r.report(f"{path}.transfer_to", f"no window {quote(transfer_to)}")
        port = r.optional(table, path, "port", _TEXT, "") or None
        kiosk = r.optional(table, path, "kiosk", _KIOSK_ID, "") or None
        if kiosk is not None and kiosk not in kiosks:
            hint = did_you_mean(kiosk, kiosks)
            r.report(
                f"{path}.kiosk",
                f"no kiosk {quote(kiosk)}"
                + (f"; did you mean {quote(hint)}?" if hint else "; add it as a [[kiosks]] entry"),
            )
        zone = r.optional(table, path, "zone", _ZONE, "") or None
        address = r.optional(table, path, "address", _BUS_ADDRESS, 0)
        pins = _read_pins(r, table, path)
        remotes = _read_remotes(r, table, path, windows)
        if profile is not None:
            needs_port = profile.transport in ("serial", "evdev", "tcp")
            if needs_port and port is None:
                r.report(f"{path}.port", f"missing; a {profile.transport} device needs its port")
            if profile.transport in ("mqtt", "gpio", "pcsc", "audio") and port is not None:
                r.report(f"{path}.port", f"a {profile.transport} device has no port")
            if profile.transport == "mqtt" and mqtt is None:
                r.report(f"{path}.profile", "an MQTT device needs an [mqtt] table (the broker)")
            if profile.kind in KIOSK_KINDS:
                if kiosk is None:
                    r.report(f"{path}.kiosk", f"missing; a {profile.kind} belongs to a kiosk")
                if window is not None:
                    r.report(f"{path}.window", f"a {profile.kind} belongs to a kiosk, not a window")
            elif kiosk is not None:
                r.report(
                    f"{path}.kiosk", f"only kiosk devices belong to a kiosk, not a {profile.kind}"
                )
            if zone is not None and profile.kind != "announcer":
                r.report(f"{path}.zone", "only announcers have a speaker zone")
            needs_window = profile.kind not in KIOSK_KINDS and profile.kind != "announcer"
            if needs_window and profile.driver != "rf433_receiver" and window is None:
                r.report(f"{path}.window", "missing; expected the window this device serves")
            if profile.transport == "gpio":
                _check_pins(r, path, profile, pins)
            if profile.serial is not None and port is not None:
                line = (f"{path}.port", profile.serial)
                first = bus_lines.setdefault(port, line)
                if first[1] != profile.serial:
                    r.report(
                        f"{path}.profile",
                        f"{first[0]} uses the same port with other line settings "
                        "(one RS-485 bus runs at one speed)",
                    )
                if (port, address) in bus_users:
                    r.report(
                        f"{path}.address",
                        f"{bus_users[(port, address)]} has address {address} on this port",
                    )
                bus_users.setdefault((port, address), path)
        if len(r.issues) == before and device_id is not None and profile is not None:
            devices.append(
                DeviceConfig(
                    id=device_id,
                    profile=profile,
                    window=window,
                    port=port,
                    address=address,
                    pins=MappingProxyType(pins),
                    remotes=MappingProxyType(remotes),
                    transfer_to=transfer_to,
                    kiosk=kiosk,
                    zone=zone,
                )
            )
    return tuple(devices)


def _read_pins(r: Reader, table: Mapping[str, object], path: str) -> dict[str, int]:
    raw = table.get("pins", {})
    if not isinstance(raw, dict):
        r.report(f"{path}.pins", "expected a table of pin names to GPIO numbers")
        return {}
    pins: dict[str, int] = {}
    for name, value in raw.items():
        pin = r.check(value, f"{path}.pins.{name}", _PIN)
        if pin is not None:
            pins[name] = pin
    return pins


def _read_remotes(
    r: Reader, table: Mapping[str, object], path: str, windows: set[str]
) -> dict[int, str]:
    raw = table.get("remotes", {})
    if not isinstance(raw, dict):
        r.report(f"{path}.remotes", 'expected a table of remote ids to windows ("0x1A2B" = "3")')
        return {}
    remotes: dict[int, str] = {}
    for code, window in raw.items():
        key = f"{path}.remotes.{code}"
        try:
            remote = int(code, 0)
        except ValueError:
            r.report(key, 'expected a remote id such as "0x1A2B"')
            continue
        if not isinstance(window, str) or window not in windows:
            r.report(key, f"expected a window id, got {show_value(window)}")
            continue
        remotes[remote] = window
    return remotes


def _check_pins(r: Reader, path: str, profile: DeviceProfile, pins: Mapping[str, int]) -> None:
    codec = profile.codec
    if not isinstance(codec, GpioPadSettings):
        return
    for name in codec.buttons:
        if name not in pins:
            r.report(f"{path}.pins", f"missing pin {quote(name)} for the profile's button")
    for name in pins:
        if name not in codec.buttons and name != "lamp":
            hint = did_you_mean(name, [*codec.buttons, "lamp"])
            r.report(
                f"{path}.pins.{name}",
                "unknown pin name" + (f"; did you mean {quote(hint)}?" if hint else ""),
            )
    used: dict[int, str] = {}
    for name, pin in pins.items():
        if pin in used:
            r.report(f"{path}.pins.{name}", f"pin {pin} is also {quote(used[pin])}")
        used.setdefault(pin, name)
