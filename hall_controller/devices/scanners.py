"""Code scanners at a kiosk: keyboard scanners under an exclusive grab, and serial scanners."""

from __future__ import annotations

from collections.abc import Callable

from hall_controller.devices.base import DeviceContext, SupervisedDevice
from hall_controller.devices.errors import DeviceLost
from hall_controller.devices.local_pads import KeyLink
from hall_controller.devices.model import CodeScanned
from hall_controller.devices.supervisor import Supervisor
from hall_controller.profiles import DeviceConfig, ScannerSettings
from hall_controller.protocols.scanner import KeystrokeDecoder, LineDecoder
from hall_controller.transports.base import ByteLink
from hall_controller.transports.errors import LinkTimeout, TransportError
from hall_controller.transports.keys import EvdevKeys
from hall_controller.transports.serial import SerialLink, SerialParams, port_present

_WATCH_S = 60.0  # how long one wait on a quiet link lasts before it waits again


class _Scanner(SupervisedDevice):
    """A scanner with a link of its own, kept up by a supervisor; each code goes to its kiosk."""

    def scanned(self, code: str) -> None:
        """Hand one code to the hub for the scanner's kiosk."""
        # Codes may carry personal data (a health code, an ID): health keeps only their length.
        self.health.seen(self.context.clock(), f"code of {len(code)} characters")
        self.submit(CodeScanned(self.id, self.config.kiosk, code))


class KeyboardCodeScanner(_Scanner):
    """A USB scanner that types as a keyboard, grabbed so its codes never reach the browser."""

    def __init__(self, config: DeviceConfig, context: DeviceContext) -> None:
        super().__init__(config, context)
        assert isinstance(config.profile.codec, ScannerSettings)
        assert config.port is not None
        self.decoder = KeystrokeDecoder(end_on_tab=config.profile.codec.end_on_tab)
        keys = EvdevKeys(config.port, on_key=self._press, on_release=self.decoder.release)
        target = KeyLink(config.id, keys, config.port, config.profile.timeouts.open_s)
        self.supervisor = Supervisor(target, self._on_link)

    def _press(self, key: str) -> None:
        code = self.decoder.press(key)
        if code is not None:
            self.scanned(code)


class _ReadLines:
    """Supervised serial scanner: open the port, read lines until it fails, close."""

    def __init__(
        self,
        name: str,
        open_link: Callable[[], ByteLink],
        present: Callable[[], bool],
        on_data: Callable[[bytes], None],
        open_s: float,
    ) -> None:
        self.name = name
        self._open_link = open_link
        self._present = present
        self._on_data = on_data
        self._open_s = open_s
        self._link: ByteLink | None = None

    async def connect(self) -> None:
        link = self._open_link()
        try:
            await link.open(self._open_s)
        except TransportError as exc:
            await link.close()
            raise DeviceLost(str(exc)) from exc
        self._link = link

    async def serve(self) -> None:
        link = self._link
        assert link is not None
        while True:
            try:
                data = await link.read(_WATCH_S)
            except LinkTimeout:
                continue  # a scanner is quiet until someone scans
            except TransportError as exc:
                raise DeviceLost(str(exc)) from exc
            self._on_data(data)

    async def disconnect(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await link.close()

    def present(self) -> bool:
        return self._present()


class SerialCodeScanner(_Scanner):
    """A scanner on a serial port (or a USB serial adapter): one code per line."""

    def __init__(
        self,
        config: DeviceConfig,
        context: DeviceContext,
        *,
        open_link: Callable[[], ByteLink] | None = None,
    ) -> None:
        super().__init__(config, context)
        settings = config.profile.codec
        assert isinstance(settings, ScannerSettings)
        assert config.port is not None
        assert config.profile.serial is not None
        line = config.profile.serial
        params = SerialParams(config.port, line.baudrate, line.bytesize, line.parity, line.stopbits)
        url = config.port
        self.decoder = LineDecoder(settings.encoding)
        target = _ReadLines(
            config.id,
            open_link if open_link is not None else lambda: SerialLink(params),
            lambda: port_present(url),
            self._received,
            config.profile.timeouts.open_s,
        )
        self.supervisor = Supervisor(target, self._on_link)

    def _received(self, data: bytes) -> None:
        overlong = self.decoder.overlong
        for code in self.decoder.feed(data):
            self.scanned(code)
        if self.decoder.overlong > overlong:
            self.health.error("a line too long to be a code was dropped")
