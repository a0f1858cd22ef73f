"""A real Mosquitto for MQTT tests: `mosquitto` fixture, one broker per test on a free port.

Loaded as a plugin from conftest.py (`pytest_plugins = ["mqtt_broker"]`). The broker keeps
nothing on disk, so `restart()` loses retained messages and sessions, like a rebooted edge box.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hall_controller.local_broker import mosquitto_binary, mosquitto_config

HOST = "127.0.0.1"
START_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 5.0


class BrokerFailed(RuntimeError):
    """Mosquitto did not start or stop; the message carries its log."""


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def accepts_connections(host: str, port: int) -> bool:
    """True if something listens on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class Mosquitto:
    """One Mosquitto process on a fixed port; stop, start and restart keep the port."""

    def __init__(self, workdir: Path, *, host: str = HOST, port: int | None = None) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.workdir = workdir
        self.conf_path = workdir / "mosquitto.conf"
        self.log_path = workdir / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None
        # max_inflight as the demo hall's [mqtt] max_inflight.
        text = mosquitto_config(host, self.port, self.log_path, max_inflight=100, log_all=True)
        self.conf_path.write_text(text, encoding="utf-8")

    def start(self) -> None:
        """Start the broker and wait until it accepts connections; BrokerFailed if it never does."""
        if self.proc is not None:
            return
        binary = mosquitto_binary()
        if binary is None:
            # Never a skip: MQTT tests that do not run would pass for the wrong reason.
            pytest.fail("mosquitto is not installed (./.ci/test installs it with apt-get)")
        self.proc = subprocess.Popen(
            [binary, "-c", str(self.conf_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not accepts_connections(self.host, self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BrokerFailed(
                    f"mosquitto on {self.host}:{self.port} did not come up; log:\n{self.log_text()}"
                )
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop the broker (SIGTERM, SIGKILL if it lingers); does nothing if it is not running."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT_S)

    def restart(self) -> None:
        """Stop and start again on the same port: clients lose their connection and sessions."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        """True while the broker process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        """What the broker has logged so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log written)"


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A running Mosquitto on a free 127.0.0.1 port, killed after the test."""
    workdir = tmp_path / "mosquitto"
    workdir.mkdir()
    broker = Mosquitto(workdir)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
