"""`python -m firmware_bridges.rs485_gateway --config gateway.toml`: run until stopped."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from hall_controller.config_reader import ConfigError, format_issues

from .config import GatewayConfig, load_config
from .gateway import Gateway

PROG = "python -m firmware_bridges.rs485_gateway"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Present the devices on RS-485 buses as MQTT devices of the hall's topics.",
    )
    parser.add_argument("--config", required=True, type=Path, help="the gateway's TOML file")
    parser.add_argument(
        "--check", action="store_true", help="validate the config and profiles, list the devices"
    )
    parser.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error")
    )
    return parser


def describe(config: GatewayConfig) -> str:
    """One line per port and device, as `--check` prints them."""
    broker = config.broker
    lines = [f"hall {config.hall_id}, broker {broker.host}:{broker.port}"]
    for port, devices in config.ports().items():
        lines.append(f"{port}:")
        lines.extend(
            f"  {d.id}: {d.profile.kind} {d.profile.id} at address {d.address}" for d in devices
        )
    return "\n".join(lines)


async def serve(config: GatewayConfig) -> None:
    """Run the gateway until SIGTERM or SIGINT."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await Gateway(config).run(stopping)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status: 0 after a clean stop, 2 for an unusable config, 1 if the gateway failed."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = load_config(args.config)
    except ConfigError as err:
        print(format_issues(err), file=sys.stderr)
        return 2
    if args.check:
        print(describe(config))
        return 0
    try:
        asyncio.run(serve(config))
    except RuntimeError as exc:
        logging.getLogger("hall_gateway").error("stopped: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
