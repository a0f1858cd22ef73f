"""Boot on the ESP32: config.json, Wi-Fi, keys, lamp, beeper and display, then the pad's loop."""

import json

import machine
import network
import utime
from callpad import CallPad
from umqtt.simple import MQTTClient

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CONFIG_FILE = "config.json"
WIFI_WAIT_MS = 15000
# After an unexpected error the pad restarts, so a clerk never faces a dead pad for long.
RESTART_AFTER_MS = 5000


def load_config(path: str = CONFIG_FILE) -> "dict[str, Any]":
    """The pad's settings (see config.example.json); ValueError if the file is not an object."""
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(path + " must hold a JSON object")
    return data


def ascii_only(text: str) -> str:
    """`text` for the display's built-in font: characters it lacks become '?'."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)


class OledDisplay:
    """An SSD1306 OLED: the pad's text wrapped on the top lines, its status on the bottom one."""

    def __init__(self, oled: "Any", width: int = 128, height: int = 64) -> None:
        self.oled = oled
        self.columns = width // 8
        self.rows = height // 8

    def show(self, top: str, bottom: str) -> None:
        """Draw both texts (8x8 font)."""
        oled = self.oled
        oled.fill(0)
        text = ascii_only(top)
        for row in range(self.rows - 1):
            line = text[row * self.columns : (row + 1) * self.columns]
            if line:
                oled.text(line, 0, row * 8)
        oled.text(ascii_only(bottom)[: self.columns], 0, (self.rows - 1) * 8)
        oled.show()


class Wifi:
    """The station interface: joined at boot, asked to join again before each broker attempt."""

    def __init__(self, ssid: str, password: str) -> None:
        self.ssid = ssid
        self.password = password
        self.wlan = network.WLAN(network.STA_IF)
        self.wlan.active(True)

    def join(self, wait_ms: int) -> bool:
        """Start joining and wait up to `wait_ms` for an address."""
        start = utime.ticks_ms()
        self.up()
        while not self.wlan.isconnected():
            if utime.ticks_diff(utime.ticks_ms(), start) > wait_ms:
                return False
            utime.sleep_ms(100)
        return True

    def up(self) -> bool:
        """True if joined; otherwise ask to join (the pad retries with its backoff)."""
        if self.wlan.isconnected():
            return True
        try:  # noqa: SIM105 (MicroPython has no contextlib)
            self.wlan.connect(self.ssid, self.password)
        except OSError:
            pass  # already joining
        return bool(self.wlan.isconnected())


def _pin(number: int, mode: int, pull: "Any" = None) -> "Any":
    if pull is None:
        return machine.Pin(number, mode)
    return machine.Pin(number, mode, pull)


def build(config: "dict[str, Any]") -> CallPad:
    """The pad wired as `config` says, joined to Wi-Fi (or still trying)."""
    broker = config["broker"]
    wifi = Wifi(config["wifi"]["ssid"], config["wifi"]["password"])
    wifi.join(WIFI_WAIT_MS)

    active_low = config.get("active_low", True) is not False
    pull = machine.Pin.PULL_UP if active_low else machine.Pin.PULL_DOWN
    keys = {name: _pin(number, machine.Pin.IN, pull) for name, number in config["keys"].items()}
    lamp_pin, beeper_pin = config.get("lamp_pin"), config.get("beeper_pin")
    lamp = None if lamp_pin is None else _pin(lamp_pin, machine.Pin.OUT)
    beeper = None if beeper_pin is None else _pin(beeper_pin, machine.Pin.OUT)

    display = None
    screen = config.get("display")
    if isinstance(screen, dict):
        import ssd1306  # from micropython-lib: mpremote mip install ssd1306

        width, height = screen.get("width", 128), screen.get("height", 64)
        i2c = machine.SoftI2C(scl=machine.Pin(screen["scl"]), sda=machine.Pin(screen["sda"]))
        display = OledDisplay(ssd1306.SSD1306_I2C(width, height, i2c), width, height)

    device_id = config["device_id"]
    keepalive = broker.get("keepalive", 30)
    client = MQTTClient(
        device_id,
        broker["host"],
        port=broker.get("port", 1883),
        user=broker.get("username"),
        password=broker.get("password"),
        keepalive=keepalive,
    )
    return CallPad(
        config["hall_id"],
        device_id,
        client,
        utime,
        keys,
        display,
        lamp,
        beeper,
        model=str(config.get("model", "ESP32 call pad with display")),
        active_low=active_low,
        debounce_ms=int(config.get("debounce_ms", 30)),
        keepalive_s=keepalive,
        before_connect=wifi.up,
    )


def main() -> None:
    """Run the pad; restart the board after an unexpected error."""
    config = load_config()
    pad = build(config)
    watchdog_ms = config.get("watchdog_ms", 0)
    feed = machine.WDT(timeout=watchdog_ms).feed if watchdog_ms else None
    try:
        pad.run_forever(feed=feed)
    except Exception as exc:
        print("call pad stopped:", repr(exc))
        utime.sleep_ms(RESTART_AFTER_MS)
        machine.reset()


if __name__ == "__main__":
    main()
