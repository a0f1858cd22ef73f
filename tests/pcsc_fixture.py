"""pcscd with vpcd's virtual reader for the PC/SC tests: started here (and stopped after) unless
a pcscd is already running, in which case that one is used.

Our own pcscd reads a reader.conf.d of its own: vpcd listens on a free port (and the next one,
for its second slot), so a pcscd or a test run elsewhere on the machine is never disturbed.
Missing pcscd or vpcd fails the tests with what to install: a PC/SC test that does not run
must never pass.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from smartcard import scard

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
SYSTEM_CONFIG = Path("/etc/reader.conf.d")
READER = "Virtual PCD"  # vpcd's friendly name; pcscd adds the slot, e.g. "Virtual PCD 00 00"
DEFAULT_PORT = 35963
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
INSTALL = "apt-get install pcscd vsmartcard-vpcd (./.ci/test does)"


def _free_port_pair() -> int:
    """A port p such that p and p + 1 are free now (vpcd listens on both, one per slot)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("0.0.0.0", 0))
            port: int = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("0.0.0.0", port + 1))
                except OSError:
                    continue
                return port
    pytest.fail("no two free TCP ports in a row for vpcd")


def readers() -> list[str]:
    """The readers pcscd lists now ([] when it is not running)."""
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        return []
    try:
        hresult, found = scard.SCardListReaders(context, [])
        return list(found) if hresult == scard.SCARD_S_SUCCESS else []
    finally:
        scard.SCardReleaseContext(context)


def wait_until_empty(reader: str, timeout: float = START_TIMEOUT_S) -> None:
    """Block until pcscd reports `reader` empty (it polls vpcd's slot a few times a second), so
    that the next test's card is a new insertion; fails the test if it never does."""
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        pytest.fail(f"pcscd is not running: {scard.SCardGetErrorMessage(hresult)}")
    try:
        known = scard.SCARD_STATE_UNAWARE
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            wait_ms = int((deadline - time.monotonic()) * 1000)
            hresult, states = scard.SCardGetStatusChange(context, wait_ms, [(reader, known)])
            if hresult != scard.SCARD_S_SUCCESS:
                break
            known = states[0][1] & ~scard.SCARD_STATE_CHANGED
            if known & scard.SCARD_STATE_EMPTY:
                return
    finally:
        scard.SCardReleaseContext(context)
    pytest.fail(f"pcscd still sees a card in {reader!r} after {timeout:g} s")


def _system_vpcd_port() -> int:
    """The port of vpcd's first slot in the system's reader.conf.d (35963 by default)."""
    for path in sorted(SYSTEM_CONFIG.glob("*")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if "libifdvpcd" not in text:
            continue
        match = re.search(r"(?m)^\s*DEVICENAME\s+\S*:(0x[0-9A-Fa-f]+|\d+)\s*$", text)
        if match:
            return int(match.group(1), 0)
    return DEFAULT_PORT


class Pcscd:
    """The pcscd the tests talk to, and the port where a virtual card goes into its reader."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.log_path = workdir / "pcscd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.owned = False  # started by these tests (and so stopped and restarted by them)
        self.port = DEFAULT_PORT

    def start(self) -> None:
        """Use the running pcscd, or start one; fails the test if the vpcd reader never shows."""
        binary = shutil.which("pcscd", path=os.pathsep.join((os.environ["PATH"], "/usr/sbin")))
        if binary is None:
            pytest.fail(f"pcscd is not installed: {INSTALL}")
        if not VPCD_DRIVER.exists():
            pytest.fail(f"vpcd's driver {VPCD_DRIVER} is missing: {INSTALL}")
        if self.proc is None and readers():
            self.owned = False
            self.port = _system_vpcd_port()
        else:
            self._spawn(binary)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not any(READER in name for name in readers()):
            if self.proc is not None and self.proc.poll() is not None:
                self._fail("pcscd exited")
            if time.monotonic() > deadline:
                self._fail(f"pcscd lists no {READER!r} reader after {START_TIMEOUT_S:g} s")
            time.sleep(0.05)

    def _spawn(self, binary: str) -> None:
        if self.proc is not None:
            return
        if not self.owned:
            self.port = _free_port_pair()
        self.owned = True
        config = self.workdir / "reader.conf.d"
        config.mkdir(exist_ok=True)
        (config / "vpcd").write_text(
            f'FRIENDLYNAME "{READER}"\n'
            f"DEVICENAME   /dev/null:0x{self.port:04X}\n"
            f"LIBPATH      {VPCD_DRIVER}\n"
            f"CHANNELID    0x{self.port:04X}\n",
            encoding="utf-8",
        )
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [binary, "--foreground", "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        """Stop our pcscd and wait until it is gone; fails the test for a pcscd we did not start."""
        if not self.owned:
            pytest.fail(
                "a pcscd not started by the tests is running: stop it to run the tests that "
                "stop and restart pcscd"
            )
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT_S)

    def close(self) -> None:
        """Stop pcscd if we started it."""
        if self.owned:
            self.stop()

    def _fail(self, what: str) -> None:
        log = self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""
        self.close()
        pytest.fail(f"{what}; pcscd's log:\n{log}")


@contextlib.contextmanager
def running_pcscd(workdir: Path) -> Iterator[Pcscd]:
    """pcscd with the vpcd reader listed, for the duration of the block."""
    daemon = Pcscd(workdir)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.close()
