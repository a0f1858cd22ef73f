"""Reader threads of blocking libraries (pyserial's rfc2217, pyusb) handing results to the loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any


def post(loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *args: Any) -> None:
    """Run callback on the loop thread; nothing to do if the loop is already gone."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)


def settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    """Resolve `future` with None or `error` (loop thread), unless it is settled already."""
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
