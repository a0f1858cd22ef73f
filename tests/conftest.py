"""Shared fixtures: hall configs for tests, and the check that no asyncio task outlives a test."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# Shared fixtures defined beside the tests that use them.
from accounts import TEST_ACCOUNT_TOML
from fake_evdev import fake_evdev  # noqa: F401

pytest_plugins = ["mqtt_broker"]

ROOT = Path(__file__).resolve().parent.parent
DEMO_CONFIG = ROOT / "config" / "demo-hall.toml"


def demo_config_text(
    *, enforce_opening_hours: bool = False, devices: bool = False, **store: object
) -> str:
    """The demo hall's TOML, with opening hours off (tests run at any hour), store overrides,
    and the tests' token account.

    Without `devices`, the demo's device section is left out (most tests need no devices);
    with it, the profile directory is made absolute so the copy works from anywhere.
    """
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    head, marker, tail = text.partition("\n# === devices")
    assert marker, "the demo config lost its '# === devices' marker"
    if devices:
        profiles = (ROOT / "device_profiles").as_posix()
        text = head + marker + tail.replace('dir = "../device_profiles"', f'dir = "{profiles}"')
    else:
        text = head + "\n"
    text = re.sub(
        r"(?m)^enforce_opening_hours = \w+",
        f"enforce_opening_hours = {'true' if enforce_opening_hours else 'false'}",
        text,
    )
    for key, value in store.items():
        text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value!r}".replace("'", '"'), text)
    # The tests' own system account: its bearer token (accounts.AUTH) may do everything.
    return text + TEST_ACCOUNT_TOML


@pytest.fixture
def demo_config_path(tmp_path: Path) -> Path:
    """A copy of the demo hall config that issues tickets at any hour."""
    path = tmp_path / "hall.toml"
    path.write_text(demo_config_text(), encoding="utf-8")
    return path


@pytest.fixture
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail the test if it leaves asyncio tasks running (every task must be cancelled on stop)."""
    before = set(asyncio.all_tasks())
    yield
    await asyncio.sleep(0)
    leaked = [
        t
        for t in asyncio.all_tasks()
        if t not in before and t is not asyncio.current_task() and not t.done()
    ]
    names = ", ".join(sorted(t.get_name() for t in leaked))
    assert not leaked, f"tasks left running: {names}"
