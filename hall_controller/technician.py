"""The technician's use cases: device health, test-fires, device profiles and the recent log.

A test-fire changes nothing in the hall's state, so it is no hall event: it is logged (with the
actor) in the controller's log, which journald keeps and the console's log view shows. Device
profiles are the TOML files of the folder the hall config reads them from; a saved profile is
written atomically and takes effect at the controller's next start, as every profile does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import structlog

from .core.errors import Conflict, InvalidCommand, NotFound
from .profiles import DeviceConfig, DeviceProfile, check_profile_text
from .services import HallService

log = structlog.get_logger("hall_controller.technician")

# A profile's name is its file name without .toml: no folders, no hidden files. Matched whole
# (fullmatch: "$" alone would let a name end in a line break).
PROFILE_NAME = re.compile(r"[a-z0-9](?:[a-z0-9_-]|\.(?!\.)){0,62}[a-z0-9]|[a-z0-9]")
MAX_PROFILE_CHARS = 12_000  # the longest shipped profile is 1.5 KB
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_LIMIT = 500
EFFECT = "next_start"  # when a saved profile takes effect


class DeviceBench(Protocol):
    """What the technician may do to the hall's devices (implemented over the device hub)."""

    async def test_fire(self, device_id: str) -> tuple[str, str]:
        """Test one device: (its test's action, what was done).

        NotFound for an unknown device, InvalidCommand when its kind or model has no test,
        Conflict when it is not reachable or the test failed.
        """
        ...


class LogSource(Protocol):
    """The controller's recent log lines (logs.RecentLog)."""

    size: int

    def lines(self, limit: int, level: str = "debug") -> list[dict[str, Any]]:
        """The newest `limit` lines at `level` or above, oldest first."""
        ...


class TechnicianService:
    """The technician console's use cases over the hall service, the devices and the files."""

    def __init__(
        self,
        service: HallService,
        *,
        profiles_dir: Path,
        devices: Sequence[DeviceConfig] = (),
        recent_log: LogSource | None = None,
        bench: DeviceBench | None = None,
    ) -> None:
        self.service = service
        self.profiles_dir = profiles_dir
        self.recent_log = recent_log
        self.bench = bench
        # The profiles in force since the start: which devices use each, and as what kind.
        self._in_use: dict[str, list[str]] = {}
        self._kinds: dict[str, str] = {}
        for device in devices:
            self._in_use.setdefault(device.profile.id, []).append(device.id)
            self._kinds[device.profile.id] = device.profile.kind
        self._saved: set[str] = set()  # profiles written since the start: in force at the next
        self._saving = asyncio.Lock()

    # ----------------------------------------------------------------- devices

    def devices(self) -> list[dict[str, Any]]:
        """Every device with its health, as the hall service shows it."""
        return self.service.devices_view()

    def device(self, device_id: str) -> dict[str, Any]:
        """One device with its health; NotFound otherwise."""
        for view in self.devices():
            if view["id"] == device_id:
                return view
        raise NotFound(f'no device "{device_id}"', device=device_id)

    async def test_fire(self, device_id: str, *, actor: str) -> dict[str, Any]:
        """Test-fire one device (print, flash, speak, light) and log who did it."""
        self.device(device_id)  # NotFound before anything is tried
        if self.bench is None:
            raise Conflict(f"{device_id}: the devices are not running", device=device_id)
        try:
            action, done = await self.bench.test_fire(device_id)
        except (Conflict, InvalidCommand) as exc:
            log.warning("device_test_refused", device=device_id, actor=actor, reason=exc.message)
            raise
        log.info("device_test_fired", device=device_id, action=action, done=done, actor=actor)
        return {
            "device": device_id,
            "action": action,
            "done": done,
            "actor": actor,
            "at": datetime.fromtimestamp(self.service.now(), self.service.tz).isoformat(
                timespec="seconds"
            ),
        }

    # ----------------------------------------------------------------- profiles

    def _path(self, name: str) -> Path:
        if not PROFILE_NAME.fullmatch(name):
            raise InvalidCommand(
                f'"{name}" is no profile name: lowercase letters, digits, "-", "_" and "."',
                profile=name,
            )
        return self.profiles_dir / f"{name}.toml"

    async def profiles(self) -> dict[str, Any]:
        """Every profile in the hall's profile folder: what it is, whether it is valid, who
        uses it, and whether it was saved since the start."""
        return await asyncio.to_thread(self._list)

    def _list(self) -> dict[str, Any]:
        folder = self.profiles_dir
        entries = []
        paths = sorted(folder.glob("*.toml")) if folder.is_dir() else []
        for path in paths:
            name = path.stem
            try:
                text = path.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                entries.append(self._summary(name, None, (f"{path.name}: cannot read: {exc}",)))
                continue
            profile, problems = check_profile_text(text, path.name)
            entries.append(self._summary(name, profile, problems))
        return {
            "folder": str(folder),
            "writable": _writable(folder),
            "takes_effect": EFFECT,
            "profiles": entries,
        }

    def _summary(
        self, name: str, profile: DeviceProfile | None, problems: Sequence[str]
    ) -> dict[str, Any]:
        return {
            "name": name,
            "kind": profile.kind if profile is not None else None,
            "driver": profile.driver if profile is not None else None,
            "transport": profile.transport if profile is not None else None,
            "model": profile.model if profile is not None else None,
            "valid": profile is not None,
            "problems": len(problems),
            "used_by": list(self._in_use.get(name, ())),
            "saved_since_start": name in self._saved,
        }

    async def profile(self, name: str) -> dict[str, Any]:
        """One profile's TOML text, as the file holds it."""
        path = self._path(name)
        try:
            text = await asyncio.to_thread(path.read_text, encoding="utf-8-sig")
        except FileNotFoundError:
            raise NotFound(f'no profile "{name}" in {self.profiles_dir}', profile=name) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise Conflict(f"cannot read {path}: {exc}", profile=name) from exc
        return {
            "name": name,
            "file": str(path),
            "text": text,
            "used_by": list(self._in_use.get(name, ())),
            "saved_since_start": name in self._saved,
            "takes_effect": EFFECT,
        }

    def validate(self, name: str, text: str) -> dict[str, Any]:
        """Every problem of an edited profile, as `file: key: message` lines; nothing saved."""
        self._path(name)
        file = f"{name}.toml"
        if len(text) > MAX_PROFILE_CHARS:
            problems: tuple[str, ...] = (f"{file}: longer than {MAX_PROFILE_CHARS} characters",)
            profile = None
        else:
            profile, problems = check_profile_text(text, file)
        kind = self._kinds.get(name)
        if profile is not None and kind is not None and profile.kind != kind:
            # The hall config gives these devices a place (window, kiosk) of the old kind.
            users = ", ".join(self._in_use.get(name, ()))
            problems = (
                f"{file}: device.kind: {users} use this profile as a {kind}; "
                f"a {profile.kind} would stop the controller from starting",
            )
            profile = None
        return {
            "name": name,
            "ok": profile is not None,
            "problems": list(problems),
            "profile": self._summary(name, profile, problems) if profile is not None else None,
        }

    async def save(self, name: str, text: str, *, actor: str) -> dict[str, Any]:
        """Write a valid profile atomically into the hall's profile folder (in force at the
        next start); InvalidCommand with the problems when it is not valid."""
        checked = self.validate(name, text)
        if not checked["ok"]:
            log.info(
                "device_profile_refused",
                profile=name,
                actor=actor,
                problems=len(checked["problems"]),
            )
            raise InvalidCommand(
                f'profile "{name}" is not valid: nothing was saved',
                profile=name,
                problems=checked["problems"],
            )
        path = self._path(name)
        body = text if text.endswith("\n") else text + "\n"
        async with self._saving:
            try:
                await asyncio.to_thread(_write_atomically, path, body)
            except OSError as exc:
                log.warning("device_profile_not_saved", profile=name, actor=actor, reason=str(exc))
                raise Conflict(
                    f"cannot write {path}: {exc.strerror or exc}", profile=name
                ) from None
        self._saved.add(name)
        log.info("device_profile_saved", profile=name, actor=actor, bytes=len(body.encode()))
        return {
            "name": name,
            "file": str(path),
            "saved": True,
            "takes_effect": EFFECT,
            "used_by": list(self._in_use.get(name, ())),
        }

    # ----------------------------------------------------------------- the log

    def log_lines(self, *, limit: int, level: str) -> dict[str, Any]:
        """The newest `limit` lines of the controller's log at `level` or above, oldest first."""
        if level not in LOG_LEVELS:
            raise InvalidCommand(f"level must be one of {', '.join(LOG_LEVELS)}", level=level)
        source = self.recent_log
        lines = source.lines(limit, level) if source is not None else []
        return {"kept": source.size if source is not None else 0, "lines": lines}


def _writable(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def _write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text`: a temporary file beside it, synced, renamed over it."""
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(2, "the profile folder does not exist", str(folder))
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    # The rename itself survives a power cut only once the folder is synced.
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
