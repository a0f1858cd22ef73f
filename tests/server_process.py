"""The real controller as a child process, for crash and restart tests.

`ServerProcess` starts `python -m hall_controller --log-json run ...` (or `demo ...`) on a free
port, reads its JSON log lines in a thread (so the pipe never fills) and waits for the
`listening` line. It can SIGKILL or SIGTERM the child and always leaves no process behind after
`stop()`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

START_TIMEOUT_S = 20.0
ROOT = Path(__file__).resolve().parent.parent


class ServerFailed(AssertionError):
    """The child did not start or stop as expected; the message carries its log tail."""


class ServerProcess:
    """One run of the controller process over a config file and a data directory."""

    def __init__(
        self,
        config: Path,
        data_dir: Path,
        *,
        name: str = "server",
        command: Sequence[str] = ("run",),
        port: int = 0,
    ) -> None:
        self.config = config
        self.listen_port = port  # 0: a free port, read from the `listening` line
        self.command = tuple(command)  # the subcommand and its own options
        self.data_dir = data_dir
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.lines: list[str] = []
        self.records: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._reader: threading.Thread | None = None
        self.started_at = 0.0
        self.listening_after_s: float | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Spawn the child and wait for its `listening` line (blocking)."""
        if self.proc is not None:
            raise RuntimeError("ServerProcess.start() called twice")
        argv = [
            sys.executable,
            "-m",
            "hall_controller",
            "--log-json",
            *self.command,
            "--config",
            str(self.config),
            "--data-dir",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.listen_port),
        ]
        # The child runs outside the checkout, importing the package from ROOT (after anything
        # already on PYTHONPATH), so that its working directory plays no part.
        path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join([*path, str(ROOT)]))
        self.started_at = time.monotonic()
        # stdout joins stderr: one pipe, one reader, nothing can block the child on a full pipe.
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.data_dir.parent,
        )
        assert self.proc.stdout is not None
        self._reader = threading.Thread(
            target=self._read, args=(self.proc.stdout,), name=f"{self.name}-log", daemon=True
        )
        self._reader.start()
        try:
            record = self.wait_for(lambda r: r.get("event") == "listening", timeout)
        except BaseException:
            self.stop()
            raise
        self.port = int(record["port"])
        self.listening_after_s = time.monotonic() - self.started_at

    def kill(self) -> None:
        """SIGKILL the child and reap it."""
        proc = self._running()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        self._join_reader()

    def terminate(self, timeout: float) -> int:
        """SIGTERM the child and wait for it to exit; its exit status (ServerFailed on timeout)."""
        proc = self._running()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise ServerFailed(
                f"{self.name} did not exit within {timeout} s of SIGTERM\n{self.tail()}"
            ) from None
        self._join_reader()
        return code

    def stop(self) -> None:
        """Make sure the child is gone (SIGKILL if still running); safe to call any time."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        self._join_reader()

    @property
    def url(self) -> str:
        """The base URL of the running child."""
        if self.port is None:
            raise RuntimeError(f"{self.name} is not listening")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self._running().pid

    # ----------------------------------------------------------------- logs

    def wait_for(self, match: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        """The first JSON log record that matches; ServerFailed with the log tail otherwise."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for record in self.records[seen:]:
                    if match(record):
                        return record
                seen = len(self.records)
                proc = self.proc
                exited = proc is not None and proc.poll() is not None
                reader_done = self._reader is not None and not self._reader.is_alive()
                if exited and reader_done:
                    code = proc.returncode if proc is not None else None
                    raise ServerFailed(
                        f"{self.name} exited with status {code} before the expected log line\n"
                        f"{self._tail_locked()}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServerFailed(
                        f"{self.name}: no matching log line within {timeout} s\n"
                        f"{self._tail_locked()}"
                    )
                self._cond.wait(min(left, 0.1))

    def events(self, name: str) -> list[dict[str, Any]]:
        """Every JSON log record with this `event`."""
        with self._cond:
            return [r for r in self.records if r.get("event") == name]

    def tail(self, count: int = 40) -> str:
        """The last lines the child wrote, for failure messages."""
        with self._cond:
            return self._tail_locked(count)

    def _tail_locked(self, count: int = 40) -> str:
        lines = self.lines[-count:]
        return f"--- last {len(lines)} lines of {self.name} ---\n" + "\n".join(lines)

    def _read(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            record: dict[str, Any] | None = None
            with contextlib.suppress(ValueError):
                parsed = json.loads(line)
                if isinstance(parsed, dict):
                    record = parsed
            with self._cond:
                self.lines.append(line)
                if record is not None:
                    self.records.append(record)
                self._cond.notify_all()
        stream.close()
        with self._cond:
            self._cond.notify_all()

    def _join_reader(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=10)

    def _running(self) -> subprocess.Popen[bytes]:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            raise ServerFailed(f"{self.name} is not running\n{self.tail()}")
        return proc
