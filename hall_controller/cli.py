"""The `hall-controller` command: run a hall, run the demo hall, check a config, make secrets."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hall_controller import __version__

if TYPE_CHECKING:
    from hall_controller.settings import Settings
    from hall_controller.simulators.hall import SimulatedHall
    from hall_controller.simulators.usb_hid import SimulatedUsbBus

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "config" / "demo-hall.toml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hall-controller",
        description="Queue and kiosk controller for a one-door government service hall.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument("--log-json", action="store_true", help="JSON log lines even on a terminal")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the controller for a hall")
    run.add_argument("--config", required=True, type=Path, help="hall config (TOML)")
    _server_options(run)

    demo = sub.add_parser("demo", help="run the demo hall on localhost")
    demo.add_argument("--config", type=Path, default=DEMO_CONFIG, help="default: the demo hall")
    demo.add_argument(
        "--no-simulation", action="store_true", help="no simulated applicants and clerks"
    )
    demo.add_argument("--speed", type=float, default=10.0, help="simulated hall seconds per second")
    demo.add_argument(
        "--no-devices",
        action="store_true",
        help="do not play the devices (play them with `hall-controller simulate` instead)",
    )
    _server_options(demo)

    simulate = sub.add_parser(
        "simulate",
        help="play a hall's devices (serial over PTYs, MQTT) against a running controller",
        description="Simulated devices speaking the real bytes, with a console to press keys. "
        "Serial devices appear as pseudo-terminals at the ports of the config (a relative port "
        "is inside --data-dir, which must be the running controller's).",
    )
    simulate.add_argument("--config", type=Path, default=DEMO_CONFIG, help="default: demo hall")
    simulate.add_argument("--data-dir", type=Path, help="the running controller's data directory")
    simulate.add_argument("--auto", action="store_true", help="clerks press keys by themselves")
    simulate.add_argument("--speed", type=float, default=10.0, help="hall seconds per second")

    purge = sub.add_parser(
        "purge",
        help="remove personal data past its retention from a stopped hall's event log",
        description="Removes the keyed ID hashes and booking codes of business days past the "
        "hall's [retention] from the event log, with their snapshots and stored replies, and "
        "records it in the audit trail. A running controller does this by itself (at start, "
        "after each rollover and every 10 minutes): stop it first to run this by hand.",
    )
    purge.add_argument("--config", type=Path, default=DEMO_CONFIG, help="default: demo hall")
    purge.add_argument("--data-dir", type=Path, help="the hall's data directory")
    purge.add_argument("--dry-run", action="store_true", help="tell what would go; change nothing")

    report = sub.add_parser(
        "report",
        help="the efficiency evaluation report (效能评价报告) of a day, week, month or range",
        description="Replays the hall's event log over the days asked and writes the efficiency "
        "evaluation report as HTML (with charts), PDF or CSV. The log is read without its lock: "
        "this runs beside a running controller.",
    )
    report.add_argument("--config", type=Path, default=DEMO_CONFIG, help="default: demo hall")
    report.add_argument("--data-dir", type=Path, help="the hall's data directory")
    period = report.add_mutually_exclusive_group(required=True)
    period.add_argument("--day", help="one business day, YYYY-MM-DD, or today")
    period.add_argument("--week", help="an ISO week, YYYY-Www (2026-W48)")
    period.add_argument("--month", help="a calendar month, YYYY-MM")
    period.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help="a range's first day")
    report.add_argument(
        "--to", dest="last", metavar="YYYY-MM-DD", help="a range's last day (default: --from)"
    )
    report.add_argument("--format", choices=["html", "pdf", "csv"], default="html")
    report.add_argument(
        "--out",
        type=Path,
        help="the file to write, - for standard output (default: a name with the hall and the "
        "period, in this directory)",
    )

    check = sub.add_parser("check-config", help="validate a hall config and list every problem")
    check.add_argument("file", type=Path)

    sub.add_parser(
        "hash-secret",
        help="hash a PIN or password for an account's password_hash (read from the terminal "
        "or stdin)",
    )
    sub.add_parser(
        "new-token",
        help="make a kiosk's or a system's token: the token to give it and the token_hash to "
        "put in the config",
    )
    return parser


def _server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="where the event log lives")
    parser.add_argument("--host", help="address to listen on (default: from the config)")
    parser.add_argument("--port", type=int, help="port to listen on, 0 for any free one")


def _data_dir(args: argparse.Namespace, settings: Settings) -> Path:
    """The data directory a command works in: --data-dir, else the hall's default one (the
    demo's for the demo config)."""
    from hall_controller.app import default_data_dir

    given: Path | None = args.data_dir
    return given or default_data_dir("demo" if args.config == DEMO_CONFIG else settings.hall.id)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = _parser().parse_args(argv)
    from hall_controller.logs import configure_logging

    configure_logging(args.log_level, json_lines=True if args.log_json else None)
    if args.command == "check-config":
        return _check_config(args.file)
    if args.command == "hash-secret":
        return _hash_secret()
    if args.command == "new-token":
        return _new_token()
    if args.command == "purge":
        return _purge(args)
    if args.command == "report":
        return _report(args)
    if args.command == "simulate":
        return _simulate(args)
    return _serve(args)


def _check_config(path: Path) -> int:
    from hall_controller.settings import ConfigError, format_issues, load_settings

    try:
        settings = load_settings(path)
    except ConfigError as exc:
        print(format_issues(exc), file=sys.stderr)
        count = len(exc.issues)
        print(f"{path}: {count} problem{'s' if count != 1 else ''}", file=sys.stderr)
        return 1
    hall = settings.hall
    devices = f", {len(settings.devices)} devices" if settings.devices else ""
    print(
        f"{path}: OK: {hall.name_zh} / {hall.name_en}: {len(hall.themes)} themes, "
        f"{len(hall.windows)} windows, {len(hall.priority_groups)} priority groups{devices}"
    )
    return 0


def _hash_secret() -> int:
    import getpass

    from hall_controller.access import MAX_SECRET_LEN, hash_secret

    if sys.stdin.isatty():
        secret = getpass.getpass("PIN or password: ")
        if getpass.getpass("Again: ") != secret:
            print("the two entries differ; nothing hashed", file=sys.stderr)
            return 1
    else:
        secret = sys.stdin.readline().rstrip("\r\n")
    if not secret or len(secret) > MAX_SECRET_LEN:
        print(f"a PIN or password is 1 to {MAX_SECRET_LEN} characters", file=sys.stderr)
        return 1
    if secret.isdigit() and len(secret) < 4:
        print("a PIN has at least 4 digits", file=sys.stderr)
        return 1
    print(f'password_hash = "{hash_secret(secret)}"')
    return 0


def _new_token() -> int:
    from hall_controller.access import new_token, token_hash

    token = new_token()
    print(f"token:      {token}")
    print(f'token_hash = "{token_hash(token)}"')
    return 0


def _serve(args: argparse.Namespace) -> int:
    import structlog

    from hall_controller.app import (
        Controller,
        StartupError,
        default_data_dir,
        run_controller,
        run_event_loop,
    )
    from hall_controller.demo import HallSimulation
    from hall_controller.settings import ConfigError, format_issues, load_settings

    log = structlog.get_logger("hall_controller.cli")
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(format_issues(exc), file=sys.stderr)
        return 1
    background = None
    data_dir = args.data_dir
    demo_devices = usb_bus = None
    if args.command == "demo":
        # Anyone trying the demo at 22:00 should still see a working hall.
        settings = dataclasses.replace(
            settings, hall=dataclasses.replace(settings.hall, enforce_opening_hours=False)
        )
        data_dir = data_dir or default_data_dir("demo")
        log.info(
            "demo_hall", opening_hours="shown, not enforced", simulation=not args.no_simulation
        )
        # Not a Raspberry Pi here (or a demo on one): the button pads use simulated pins.
        os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")
        from hall_controller.demo_devices import (
            run_device_clerks,
            simulated_hall,
            simulated_usb_bus,
            windows_with_pads,
        )
        from hall_controller.demo_kiosks import run_kiosk_applicants

        speed, simulation = args.speed, not args.no_simulation
        demo_devices = None if args.no_devices else simulated_hall(settings, data_dir, speed=speed)
        # Like the mock pins: the USB HID pads sit on a simulated bus (no console can reach it).
        usb_bus = simulated_usb_bus(settings)
        # With devices played elsewhere, their windows are still worked through their pads.
        pad_windows = frozenset(windows_with_pads(settings))
        devices, usb = demo_devices, usb_bus

        def background(controller: Controller) -> list[asyncio.Task[None]]:
            if not simulation:
                return []
            service = controller.service
            tasks = HallSimulation(service, speed=speed, pad_windows=pad_windows).start()
            if devices is not None:
                clerks = run_device_clerks(devices, settings, usb)
                tasks.append(asyncio.create_task(clerks, name="demo-device-clerks"))
                applicants = run_kiosk_applicants(controller.kiosks, devices, settings, speed=speed)
                tasks.append(asyncio.create_task(applicants, name="demo-kiosk-applicants"))
            return tasks

    data_dir = data_dir or default_data_dir(settings.hall.id)
    main = run_controller(settings, data_dir, host=args.host, port=args.port, background=background)
    try:
        if args.command == "demo":
            return run_event_loop(
                _with_demo_devices(settings, data_dir, demo_devices, usb_bus, main)
            )
        return run_event_loop(main)
    except StartupError as exc:
        log.error("cannot_start", reason=str(exc))
        return 1


async def _with_demo_devices(
    settings: Settings,
    data_dir: Path,
    devices: SimulatedHall | None,
    usb: SimulatedUsbBus | None,
    main: Coroutine[Any, Any, int],
) -> int:
    """The broker and the simulated devices first, so the controller finds them at start; the
    simulated USB bus, if any, is the process's USB while the controller runs."""
    import structlog

    from hall_controller.demo_devices import ensure_broker
    from hall_controller.simulators.hall import SimulatorError

    log = structlog.get_logger("hall_controller.cli")
    broker = await ensure_broker(settings, data_dir)
    try:
        if devices is not None:
            try:
                await devices.start()
            except (SimulatorError, OSError) as exc:
                main.close()
                log.error("cannot_start", reason=f"simulated devices: {exc}")
                return 1
            log.info(
                "demo_devices",
                simulated=len(devices.serial) + len(devices.mqtt),
                not_simulated=sorted(devices.not_simulated),
            )
        if usb is None:
            return await main
        log.info(
            "demo_usb", pads=[f"{p.label} {p.vendor_id:04x}:{p.product_id:04x}" for p in usb.pads]
        )
        with usb.attached():
            return await main
    finally:
        if devices is not None:
            await devices.stop()
        if broker is not None:
            await broker.stop()


def _purge(args: argparse.Namespace) -> int:
    """Purge what is due from a stopped hall's event log, and say what went."""
    from hall_controller.app import EVENT_LOG_FILE, StartupError, open_hall
    from hall_controller.retention import due_before
    from hall_controller.services import ServiceError
    from hall_controller.settings import ConfigError, format_issues, load_settings
    from hall_controller.store import StoreLockedError

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(format_issues(exc), file=sys.stderr)
        return 1
    data_dir = _data_dir(args, settings)
    if not (data_dir / EVENT_LOG_FILE).is_file():
        print(f"no event log in {data_dir}: give the hall's --data-dir", file=sys.stderr)
        return 1
    try:
        service, event_log = open_hall(settings, data_dir)
    except StartupError as exc:
        if isinstance(exc.__cause__, StoreLockedError):
            print(
                f"the controller is running on {data_dir}: it purges by itself (at start, after "
                "each rollover and every 10 minutes); stop it to purge by hand",
                file=sys.stderr,
            )
        else:
            print(f"cannot open the hall's event log: {exc}", file=sys.stderr)
        return 1
    keep_s = settings.retention.personal_data_s
    kept = f"{keep_s / 86400:g} days after its day" if keep_s else "until the end of its day"
    try:
        before = due_before(service, keep_s)
        purged = service.purge_personal_data_now(
            before, actor="technician:cli", dry_run=args.dry_run
        )
    except ServiceError as exc:
        print(f"purge failed, nothing changed: {exc.message}", file=sys.stderr)
        return 1
    finally:
        asyncio.run(event_log.close())
    if not purged:
        print(
            f"nothing to purge: personal data is kept {kept}, and every day before {before} "
            "is purged already"
        )
        return 0
    verb = "would purge" if args.dry_run else "purged"
    print(f"{verb} personal data of {len(purged)} day(s) before {before} (kept {kept}):")
    for day, counts in purged.items():
        print(
            f"  {day}: {counts['events']} events, {counts['snapshots']} snapshots, "
            f"{counts['replies']} stored replies"
        )
    if args.dry_run:
        print("dry run: nothing changed")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    """Simulated devices and a console, against a controller already running on this box."""
    import structlog

    from hall_controller.app import run_event_loop
    from hall_controller.settings import ConfigError, format_issues, load_settings

    log = structlog.get_logger("hall_controller.cli")
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(format_issues(exc), file=sys.stderr)
        return 1
    if not settings.devices:
        print(f"{args.config}: lists no [[devices]] to simulate", file=sys.stderr)
        return 1
    data_dir = _data_dir(args, settings)
    log.info("simulating", devices=len(settings.devices), data_dir=str(data_dir))
    return run_event_loop(_simulate_main(settings, data_dir, args.auto, args.speed))


async def _simulate_main(settings: Settings, data_dir: Path, auto: bool, speed: float) -> int:
    from hall_controller.demo_devices import simulated_hall
    from hall_controller.simulators.console import run_console, stdin_lines
    from hall_controller.simulators.hall import SimulatorError

    hall = simulated_hall(settings, data_dir, speed=speed)
    try:
        await hall.start()
    except (SimulatorError, OSError) as exc:
        print(f"cannot start the simulated devices: {exc}", file=sys.stderr)
        await hall.stop()
        return 1
    try:
        if auto:
            hall.start_auto()
        await run_console(hall, stdin_lines(), print)
    finally:
        await hall.stop_auto()
        await hall.stop()
    return 0


class _Progress:
    """Days replayed, on standard error: a bar redrawn in place on a terminal; elsewhere (a log,
    a pipe) a plain line at each tenth, so nothing is garbled."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.tenth = -1

    def update(self, done: int, total: int, day: str) -> None:
        """`done` of `total` days replayed, the last one `day`."""
        if self.tty:
            filled = round(30 * done / total)
            bar = "#" * filled + "." * (30 - filled)
            end = "\n" if done == total else ""
            self.stream.write(f"\r回放 Replaying [{bar}] {done}/{total} {day}{end}")
        elif done * 10 // total > self.tenth or done == total:
            self.tenth = done * 10 // total
            self.stream.write(f"report: {done}/{total} days replayed ({day})\n")
        self.stream.flush()


def _report(args: argparse.Namespace) -> int:
    """Write the efficiency report of the period asked; 2 for a bad period, 1 for a failure."""
    import time
    from zoneinfo import ZoneInfo

    from hall_controller.app import EVENT_LOG_FILE
    from hall_controller.core.calendar import business_day
    from hall_controller.core.followups import FOLLOWUP_EVENT_NAMES
    from hall_controller.reports import (
        PeriodError,
        ReportError,
        build_report,
        day_period,
        file_name,
        find_cjk_font,
        followup_section,
        month_period,
        range_period,
        render,
        week_period,
    )
    from hall_controller.settings import ConfigError, format_issues, load_settings
    from hall_controller.store import StoreError, read_days, read_events_of_types

    if args.last is not None and args.first is None:
        print("report: --to needs --from", file=sys.stderr)
        return 2
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(format_issues(exc), file=sys.stderr)
        return 1
    hall = settings.hall
    try:
        if args.day == "today":
            today = business_day(time.time(), ZoneInfo(hall.timezone), hall.day_rollover)
            period = day_period(today, "--day")
        elif args.day is not None:
            period = day_period(args.day, "--day")
        elif args.week is not None:
            period = week_period(args.week, "--week")
        elif args.month is not None:
            period = month_period(args.month, "--month")
        else:
            period = range_period(args.first, args.last, ("--from", "--to"))
    except PeriodError as exc:
        print(f"report: {exc.message}", file=sys.stderr)
        return 2
    data_dir = _data_dir(args, settings)
    names = {a.id: (a.name_zh, a.name_en) for a in settings.access.accounts}
    progress = _Progress(sys.stderr)
    now = time.time()
    try:
        # Before the replay: a box without the font says so at once, not after a year's days.
        font = find_cjk_font() if args.format == "pdf" else None
        log_path = data_dir / EVENT_LOG_FILE
        # A follow-up's callback and close are events of the days they happen, often after
        # the period: its follow-ups come from the follow-up events of every day.
        followups = followup_section(
            hall,
            period,
            read_events_of_types(log_path, FOLLOWUP_EVENT_NAMES),
            at=now,
            staff_names=names,
        )
        days = read_days(log_path, period.days)
        report = build_report(
            hall,
            period,
            days,
            generated_at=now,
            staff_names=names,
            progress=progress.update,
            extra_sections=[followups],
        )
        body = render(report, args.format, font)
    except StoreError as exc:
        print(f"report: {exc} (is --data-dir the hall's data directory?)", file=sys.stderr)
        return 1
    except ReportError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 1
    if str(args.out) == "-":
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
        return 0
    out = args.out or Path(file_name(report, args.format))
    try:
        _write_atomically(out, body)
    except OSError as exc:
        print(f"report: cannot write {out}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"{out} ({len(body)} bytes): {report.hall_name_en}, {period.label_en}")
    return 0


def _write_atomically(path: Path, body: bytes) -> None:
    """Write the file whole or not at all (a report cut short by a full disk is not left)."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(body)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


if __name__ == "__main__":
    sys.exit(main())
