"""The `hall-controller` command: run a hall, run the demo hall, check a config."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from hall_controller import __version__

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
    _server_options(demo)

    check = sub.add_parser("check-config", help="validate a hall config and list every problem")
    check.add_argument("file", type=Path)
    return parser


def _server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="where the event log lives")
    parser.add_argument("--host", help="address to listen on (default: from the config)")
    parser.add_argument("--port", type=int, help="port to listen on, 0 for any free one")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = _parser().parse_args(argv)
    from hall_controller.logs import configure_logging

    configure_logging(args.log_level, json_lines=True if args.log_json else None)
    if args.command == "check-config":
        return _check_config(args.file)
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
    print(
        f"{path}: OK: {hall.name_zh} / {hall.name_en}: {len(hall.themes)} themes, "
        f"{len(hall.windows)} windows, {len(hall.priority_groups)} priority groups"
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    import structlog

    from hall_controller.app import StartupError, default_data_dir, run_controller, run_event_loop
    from hall_controller.demo import HallSimulation
    from hall_controller.services import HallService
    from hall_controller.settings import ConfigError, format_issues, load_settings

    log = structlog.get_logger("hall_controller.cli")
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(format_issues(exc), file=sys.stderr)
        return 1
    background = None
    data_dir = args.data_dir
    if args.command == "demo":
        # Anyone trying the demo at 22:00 should still see a working hall.
        settings = dataclasses.replace(
            settings, hall=dataclasses.replace(settings.hall, enforce_opening_hours=False)
        )
        data_dir = data_dir or default_data_dir("demo")
        log.info(
            "demo_hall", opening_hours="shown, not enforced", simulation=not args.no_simulation
        )
        if not args.no_simulation:
            speed = args.speed

            def background(service: HallService) -> list[asyncio.Task[None]]:
                return HallSimulation(service, speed=speed).start()

    data_dir = data_dir or default_data_dir(settings.hall.id)
    try:
        return run_event_loop(
            run_controller(
                settings, data_dir, host=args.host, port=args.port, background=background
            )
        )
    except StartupError as exc:
        log.error("cannot_start", reason=str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
