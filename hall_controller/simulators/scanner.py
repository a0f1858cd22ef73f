"""A simulated serial code scanner: each scan is the code's bytes and a CR LF on the line."""

from __future__ import annotations

from hall_controller.simulators.peers import View


class SerialScannerPeer:
    """A scanner on a simulated port (a BusPeer): it hears nothing, it only sends codes."""

    def __init__(self, *, encoding: str = "utf-8", address: int = 0) -> None:
        self.encoding = encoding
        self.address = address
        self.scans = 0
        self.last_length: int | None = None

    def scan(self, code: str) -> bytes:
        """The bytes one scan of `code` puts on the line: its text, then CR LF."""
        self.scans += 1
        self.last_length = len(code)
        return code.encode(self.encoding) + b"\r\n"

    def feed(self, data: bytes, at: float) -> bytes:
        """Scanners in serial mode ignore what the host sends."""
        return b""

    def line_quiet(self, at: float) -> bytes:
        """Nothing is pending on a scanner."""
        return b""

    def view(self) -> View:
        """How many codes it scanned (codes may carry personal data: not shown)."""
        return {"scans": self.scans, "last_code_length": self.last_length}
