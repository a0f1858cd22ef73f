"""Waiting in tests for state that no message announces."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

WAIT_S = 5.0


async def eventually(check: Callable[[], object], what: str, within: float = WAIT_S) -> None:
    """Wait until check() is true (polling); fails the test otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if check():
            return
        await asyncio.sleep(0.01)
    if not check():
        pytest.fail(f"never happened: {what} (within {within} s)")
