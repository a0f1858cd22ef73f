"""/metrics in the Prometheus text format (0.0.4): devices, queues, windows and the event log."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from hall_controller.core.model import TicketStatus, WindowStatus
from hall_controller.services import HallService

_DEVICE_STATES = ("connecting", "ready", "alert", "lost")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items())
    return "{" + inner + "}"


class _Family:
    """One metric family: HELP, TYPE and its samples."""

    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        self.name = name

    def add(self, value: float, **labels: str) -> None:
        number = repr(float(value)) if isinstance(value, float) else str(value)
        self.lines.append(f"{self.name}{_labels(labels)} {number}")


def _device_families(devices: Iterable[Mapping[str, object]]) -> list[_Family]:
    up = _Family("hall_device_up", "gauge", "1 when the device is reachable (ready or alert).")
    state = _Family("hall_device_state", "gauge", "1 for the device's current state.")
    seen = _Family(
        "hall_device_last_seen_timestamp_seconds", "gauge", "When the device last sent anything."
    )
    counters = {
        "frames_in": _Family(
            "hall_device_frames_in_total", "counter", "Frames received from the device."
        ),
        "frames_out": _Family(
            "hall_device_frames_out_total", "counter", "Frames sent to the device."
        ),
        "errors": _Family(
            "hall_device_errors_total", "counter", "Bad frames, dropped frames and refusals."
        ),
        "reconnects": _Family(
            "hall_device_reconnects_total", "counter", "Times the device came back after loss."
        ),
    }
    for device in devices:
        labels = {
            "device": str(device["id"]),
            "kind": str(device["kind"]),
            "window": str(device["window"] or ""),
        }
        current = str(device["state"])
        up.add(1 if current in ("ready", "alert") else 0, **labels)
        for name in _DEVICE_STATES:
            state.add(1 if name == current else 0, **labels, state=name)
        last_seen = device["last_seen"]
        if isinstance(last_seen, int | float):
            seen.add(float(last_seen), **labels)
        for key, family in counters.items():
            value = device[key]
            family.add(value if isinstance(value, int) else 0, **labels)
    return [up, state, seen, *counters.values()]


def render_metrics(service: HallService) -> str:
    """The whole /metrics page."""
    hall = service.current()
    waiting = _Family("hall_tickets_waiting", "gauge", "Tickets waiting, by theme.")
    per_theme = Counter(t.theme for t in hall.tickets.values() if t.status is TicketStatus.WAITING)
    for theme in hall.config.themes:
        waiting.add(per_theme.get(theme.id, 0), theme=theme.id)
    issued = _Family("hall_tickets_issued_today", "gauge", "Tickets issued this business day.")
    issued.add(len(hall.tickets))
    windows = _Family("hall_windows", "gauge", "Windows by status.")
    statuses = Counter(w.status for w in hall.windows.values())
    for status in WindowStatus:
        windows.add(statuses.get(status, 0), status=status.value)
    failed = _Family("hall_event_log_failed", "gauge", "1 once the event log failed (fail-stop).")
    failed.add(0 if service.failure is None else 1)
    streams = _Family("hall_event_stream_clients", "gauge", "Live server-sent event streams.")
    streams.add(len(service.bus))
    families = [
        waiting,
        issued,
        windows,
        failed,
        streams,
        *_device_families(service.device_health()),
    ]
    return "\n".join(line for family in families for line in family.lines) + "\n"
