"""A technician's console for the simulated hall: press keys, pull plugs, see what devices show."""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import structlog

from hall_controller.simulators.hall import SimulatedHall, SimulatorError, did_you_mean
from hall_controller.simulators.idcard_reader import synthetic_card
from hall_controller.transports.errors import TransportError

log = structlog.get_logger("hall_controller.simulators")

Write = Callable[[str], None]


class _Usage(Exception):
    """The command was given the wrong arguments: show its usage."""


@dataclass(frozen=True, slots=True)
class _Command:
    usage: str
    help: str
    run: Callable[[SimulatedHall, list[str], Write], Awaitable[None]]
    arguments: tuple[int, int]  # fewest and most arguments


async def run_console(
    hall: SimulatedHall, lines: AsyncIterator[str], write: Callable[[str], None]
) -> None:
    """Carry out one command per line until `quit` or the end of `lines`; never fails on input."""
    write(f"simulated hall {hall.hall_id}: {len(hall.configs)} devices. Type 'help' for commands.")
    async for line in lines:
        words = line.split()
        if not words:
            continue
        name, args = words[0].lower(), words[1:]
        if name in ("quit", "exit"):
            write("bye")
            return
        command = COMMANDS.get(name)
        if command is None:
            write(f"unknown command {name!r}{did_you_mean(name, COMMANDS)}; type 'help'")
            continue
        fewest, most = command.arguments
        if not fewest <= len(args) <= most:
            write(f"usage: {command.usage}")
            continue
        try:
            await command.run(hall, args, write)
        except _Usage as exc:
            write(f"{exc}; usage: {command.usage}")
        except SimulatorError as exc:
            write(f"error: {exc}")
        except TransportError as exc:
            write(f"error: {exc}")
        except TimeoutError:
            write(f"error: {name} did not finish in time")
        except Exception as exc:
            # A slip in the console must not end a technician's session.
            log.exception("simulator_console_failed", line=line)
            write(f"error: {type(exc).__name__}: {exc}")


async def stdin_lines() -> AsyncIterator[str]:
    """The lines typed on standard input, read without blocking the loop.

    A daemon thread reads: connect_read_pipe would switch a terminal to non-blocking mode, which
    stdout shares, and a blocking read in the loop's executor would hold up the loop's shutdown.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def post(item: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def read() -> None:
        try:
            for line in sys.stdin:
                post(line.rstrip("\r\n"))
        except (OSError, ValueError):
            pass  # stdin closed
        finally:
            post(None)

    threading.Thread(target=read, name="sim-console-stdin", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line


# --- commands ------------------------------------------------------------------------------------


async def _help(hall: SimulatedHall, args: list[str], write: Write) -> None:
    width = max(len(c.usage) for c in COMMANDS.values())
    for command in COMMANDS.values():
        write(f"  {command.usage.ljust(width)}  {command.help}")


async def _devices(hall: SimulatedHall, args: list[str], write: Write) -> None:
    rows = [("device", "kind", "driver", "window", "link", "where")]
    for device_id, entry in _entries(hall).items():
        rows.append(
            (
                device_id,
                str(entry.get("kind", "")),
                str(entry.get("driver", "")),
                str(entry.get("window") or "-"),
                str(entry.get("link", "")),
                str(entry.get("where", "")),
            )
        )
    _table(rows, write)


async def _show(hall: SimulatedHall, args: list[str], write: Write) -> None:
    entries = _entries(hall)
    if args:
        device_id = args[0]
        if device_id not in entries:
            raise SimulatorError(f"no device {device_id!r}{did_you_mean(device_id, entries)}")
        entries = {device_id: entries[device_id]}
    rows = [("device", "window", "shows")]
    for device_id, entry in entries.items():
        rows.append((device_id, str(entry.get("window") or "-"), describe(entry)))
    _table(rows, write)


async def _press(hall: SimulatedHall, args: list[str], write: Write) -> None:
    remote = _remote(args[2]) if len(args) > 2 else None
    await hall.press(args[0], args[1], remote=remote)
    write(f"{args[0]}: pressed {args[1]}")


async def _hold(hall: SimulatedHall, args: list[str], write: Write) -> None:
    seconds = _number(args[2], "seconds")
    remote = _remote(args[3]) if len(args) > 3 else None
    await hall.hold(args[0], args[1], seconds, remote=remote)
    write(f"{args[0]}: held {args[1]} for {seconds:g} s")


async def _rate(hall: SimulatedHall, args: list[str], write: Write) -> None:
    try:
        score = int(args[1])
    except ValueError:
        raise _Usage(f"score {args[1]!r} is not a whole number from 1 to 5") from None
    await hall.rate(args[0], score)
    write(f"{args[0]}: rated {score}")


async def _card(hall: SimulatedHall, args: list[str], write: Write) -> None:
    device, what = args[0], args[1].lower()
    if what == "off":
        await hall.remove_card(device)
        write(f"{device}: card taken away")
        return
    if what not in ("elderly", "adult"):
        raise _Usage(f"{what!r} is not elderly, adult or off")
    birth = date(1950, 3, 4) if what == "elderly" else date(1990, 6, 15)
    hall.cards_placed += 1
    await hall.place_card(device, synthetic_card(hall.cards_placed, birth=birth))
    write(f"{device}: a synthetic {what} applicant's card is on the reader ('card {device} off')")


async def _scan(hall: SimulatedHall, args: list[str], write: Write) -> None:
    await hall.scan(args[0], args[1])
    write(f"{args[0]}: scanned {len(args[1])} characters")


async def _paper(hall: SimulatedHall, args: list[str], write: Write) -> None:
    level = args[1].lower()
    if level not in ("ok", "low", "out"):
        raise _Usage(f"{level!r} is not ok, low or out")
    hall.set_paper(args[0], "ok" if level == "ok" else "low" if level == "low" else "out")
    write(f"{args[0]}: paper {level}")


async def _unplug(hall: SimulatedHall, args: list[str], write: Write) -> None:
    gone = hall.unplug(args[0])
    write(f"unplugged the port of {args[0]}: {', '.join(gone)} gone")


async def _replug(hall: SimulatedHall, args: list[str], write: Write) -> None:
    back = hall.replug(args[0])
    write(f"plugged the port of {args[0]} back in: {', '.join(back)} back")


async def _offline(hall: SimulatedHall, args: list[str], write: Write) -> None:
    await hall.offline(args[0])
    write(f"{args[0]}: crashed (the broker publishes its last will)")


async def _online(hall: SimulatedHall, args: list[str], write: Write) -> None:
    await hall.online(args[0])
    write(f"{args[0]}: back online")


async def _auto(hall: SimulatedHall, args: list[str], write: Write) -> None:
    if not args:
        state = "on" if hall.auto else "off"
        write(f"automatic clerks are {state} (speed {hall.speed:g})")
        return
    switch = args[0].lower()
    if switch == "on":
        speed = _number(args[1], "speed") if len(args) > 1 else None
        windows = hall.start_auto(speed)
        if not windows:
            write("no window has a call pad with a 'call' key: nothing to do")
            return
        write(f"automatic clerks on at windows {', '.join(windows)} (speed {hall.speed:g})")
    elif switch == "off":
        if len(args) > 1:
            raise _Usage("'auto off' takes nothing more")
        await hall.stop_auto()
        write("automatic clerks off")
    else:
        raise _Usage(f"say 'on' or 'off', not {args[0]!r}")


async def _quit(hall: SimulatedHall, args: list[str], write: Write) -> None:
    """Handled by run_console itself; listed for help."""


COMMANDS: Mapping[str, _Command] = {
    "help": _Command("help", "this list", _help, (0, 0)),
    "devices": _Command("devices", "every device, its link and where it is", _devices, (0, 0)),
    "show": _Command("show [device]", "what every display and pad shows now", _show, (0, 1)),
    "press": _Command("press <device> <action> [remote]", "press a call pad's key", _press, (2, 3)),
    "hold": _Command(
        "hold <device> <action> <seconds> [remote]",
        "hold a wireless pad's key (433 MHz)",
        _hold,
        (3, 4),
    ),
    "rate": _Command("rate <device> <score>", "press a rating pad's key (1-5)", _rate, (2, 2)),
    "card": _Command(
        "card <reader> elderly|adult|off",
        "put a synthetic ID card on a kiosk's reader, or take it away",
        _card,
        (2, 2),
    ),
    "scan": _Command("scan <scanner> <code>", "scan a code at a kiosk's scanner", _scan, (2, 2)),
    "paper": _Command("paper <printer> ok|low|out", "a ticket printer's paper", _paper, (2, 2)),
    "unplug": _Command("unplug <device>", "pull the device's serial port", _unplug, (1, 1)),
    "replug": _Command("replug <device>", "plug the serial port back in", _replug, (1, 1)),
    "offline": _Command("offline <device>", "crash an MQTT device", _offline, (1, 1)),
    "online": _Command("online <device>", "bring an MQTT device back", _online, (1, 1)),
    "auto": _Command(
        "auto [on [speed] | off]", "clerks that call, serve and rate by themselves", _auto, (0, 2)
    ),
    "quit": _Command("quit", "leave the console", _quit, (0, 0)),
}


# --- helpers -------------------------------------------------------------------------------------


def _entries(hall: SimulatedHall) -> dict[str, Mapping[str, object]]:
    devices = hall.state().get("devices")
    if not isinstance(devices, Mapping):
        return {}
    return {str(k): v for k, v in devices.items() if isinstance(v, Mapping)}


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _Usage(f"{what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise _Usage(f"{what} {text!r} is not a number")
    return value


def _remote(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise _Usage(f"remote {text!r} is not a number such as 0x5A5A5") from None


def _table(rows: Sequence[Sequence[str]], write: Write) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        write("  ".join(cells).rstrip())


def describe(entry: Mapping[str, object]) -> str:
    """One line of what a device shows, from its entry in SimulatedHall.state()."""
    shows = entry.get("shows")
    link = entry.get("link")
    if not isinstance(shows, Mapping):
        return f"(not simulated: {entry.get('why', '')})"
    kind = shows.get("type")
    if kind in ("led_board", "window_display"):
        text = f'"{shows["text"]}"' if shows.get("text") else "(blank)"
        line = text + (" blinking" if shows.get("blink") else "")
    elif kind == "numeric_display":
        line = str(shows.get("shows"))
        if shows.get("window") is not None:
            line += f" window {shows['window']}"
        line += " blinking" if shows.get("blink") else ""
    elif kind == "call_pad":
        text = f'"{shows["text"]}"' if shows.get("text") else "(blank)"
        lamp = "on" if shows.get("lamp") else "off"
        line = f"{text} lamp {lamp}, {shows.get('beeps', 0)} beeps"
    elif kind == "rating_pad":
        line = str(shows.get("prompt"))
        if shows.get("ticket") and shows.get("prompt") == "asking":
            line += f" for {shows['ticket']}"
    elif kind == "rf433_receiver":
        last = shows.get("last")
        if isinstance(last, Mapping):
            line = (
                f"last: remote {last.get('remote')} {last.get('action')} "
                f"({last.get('frames')} frames), {shows.get('presses')} presses"
            )
        else:
            line = "no press heard yet"
    else:
        line = str(dict(shows))
    if link not in ("plugged", "online"):
        line += f" [{link}]"
    return line
