"""A private Mosquitto for the demo hall when no broker listens where the config says."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import time
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


class BrokerError(Exception):
    """No broker is listening and none could be started."""


def mosquitto_binary() -> str | None:
    """Mosquitto's executable (Debian installs it in /usr/sbin, not on every user's PATH)."""
    return shutil.which("mosquitto", path="/usr/local/sbin:/usr/sbin:/usr/bin:/bin")


def mosquitto_config(
    host: str,
    port: int,
    log_file: Path,
    *,
    max_inflight: int = 20,
    tcp_nodelay: bool = True,
    log_all: bool = False,
) -> str:
    """A mosquitto.conf for a private broker on one port: anonymous, nothing kept on disk."""
    lines = [
        f"listener {port} {host}",
        "allow_anonymous true",
        "persistence false",
        # As many unacknowledged QoS 1 messages per client as the controller sends.
        f"max_inflight_messages {max_inflight}",
        f"log_dest file {log_file}",
    ]
    if tcp_nodelay:
        # Nagle holds each small packet for the peer's delayed ACK: about 40 ms per hop.
        lines.append("set_tcp_nodelay true")
    if log_all:
        lines.append("log_type all")
    if os.geteuid() == 0:
        # As root, Mosquitto becomes the user "mosquitto" before opening its log, which then
        # cannot write into our (private) directory: stay root.
        lines.insert(0, "user root")
    return "\n".join(lines) + "\n"


def listening(host: str, port: int, timeout_s: float = 0.3) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


class LocalBroker:
    """A Mosquitto child process bound to one loopback port, logging into the data directory."""

    def __init__(self, host: str, port: int, directory: Path, *, max_inflight: int = 20) -> None:
        self.host = host
        self.port = port
        self.max_inflight = max_inflight
        self.directory = directory
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, timeout_s: float = 5.0) -> None:
        """Start Mosquitto and wait until it accepts connections."""
        binary = mosquitto_binary()
        if binary is None:
            raise BrokerError(
                "no MQTT broker at "
                f"{self.host}:{self.port} and no mosquitto to start (apt-get install mosquitto)"
            )
        await asyncio.to_thread(self.directory.mkdir, parents=True, exist_ok=True)
        conf = self.directory / "mosquitto.conf"
        text = mosquitto_config(
            self.host, self.port, self.directory / "mosquitto.log", max_inflight=self.max_inflight
        )
        await asyncio.to_thread(conf.write_text, text, encoding="utf-8")
        self.process = await asyncio.create_subprocess_exec(
            binary,
            "-c",
            str(conf),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while not await asyncio.to_thread(listening, self.host, self.port):
            if self.process.returncode is not None or time.monotonic() > deadline:
                await self.stop()
                tail = await asyncio.to_thread(_tail, self.directory / "mosquitto.log")
                raise BrokerError(f"mosquitto did not start on {self.port}: {tail.strip()}")
            await asyncio.sleep(0.05)
        log.info("local_broker_started", port=self.port, pid=self.process.pid)

    async def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after 3 s)."""
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            async with asyncio.timeout(3.0):
                await process.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-400:]
    except OSError:
        return ""
