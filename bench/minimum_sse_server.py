"""The hand-built minimum of a server-sent events fan-out, to measure the controller against.

aiohttp and two routes, nothing else: no domain model, no event log, no state view.

* ``GET /events``: a ``text/event-stream``; each subscriber is an ``asyncio.Queue`` of encoded
  events, written to the response as they come. An SSE comment (``: subscribed``) goes out
  once the queue is registered, so a client knows from when on it receives every event.
* ``POST /call {"ticket_id": "...", "window": "..."}``: builds one ``TicketCalled`` event of
  the controller's shape and size (two candidate rows, as a two-theme window's call has),
  encodes it once and puts it to every subscriber's queue; replies 200 with its seq.

    python bench/minimum_sse_server.py --port 0

prints the port it listens on as the first line of stdout, then serves until SIGINT/SIGTERM.
It runs on uvloop, as the controller does (``--loop asyncio`` for asyncio's own loop).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiohttp import web


@dataclass(slots=True)
class Stream:
    """The subscribers' queues, and the last event's seq."""

    subscribers: set[asyncio.Queue[bytes]] = field(default_factory=set)
    seq: int = 0


_STREAM: web.AppKey[Stream] = web.AppKey("stream", Stream)


async def events(request: web.Request) -> web.StreamResponse:
    """One subscriber: every event from now on, until the client goes away."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    subscribers = request.app[_STREAM].subscribers
    subscribers.add(queue)
    try:
        await response.write(b": subscribed\n\n")
        while True:
            await response.write(await queue.get())
    except ConnectionError:
        pass  # the client went away
    finally:
        subscribers.discard(queue)
    return response


async def call(request: web.Request) -> web.Response:
    """Build one TicketCalled-sized event, queue it to every subscriber, answer 200."""
    body = await request.json()
    ticket_id = str(body["ticket_id"])
    window = str(body["window"])
    number = ticket_id.rsplit("-", 1)[-1]
    stream = request.app[_STREAM]
    stream.seq += 1
    seq = stream.seq
    at = time.time()
    payload = {
        "seq": seq,
        "type": "TicketCalled",
        "at": at,
        "actor": "api:127.0.0.1",
        "ticket_id": ticket_id,
        "window": window,
        "rule": "longest_wait",
        "candidates": [
            [ticket_id, number, "social", None, 61.2, 61.2, 0.0, 300.0, 361.2, -1438.8, False],
            ["20261128-B042", "B042", "police", None, 58.9, 58.9, 0.0, 0.0, 58.9, -1441.1, False],
        ],
        "number": number,
    }
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    event = b"event: TicketCalled\nid: %d\ndata: %s\n\n" % (seq, data)
    for queue in stream.subscribers:
        queue.put_nowait(event)
    return web.json_response({"seq": seq})


def build_app() -> web.Application:
    """The two-route application."""
    app = web.Application()
    app[_STREAM] = Stream()
    app.router.add_get("/events", events)
    app.router.add_post("/call", call)
    return app


async def serve(host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM, printing the bound port first."""
    runner = web.AppRunner(build_app(), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    print(int(runner.addresses[0][1]), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 for any free port")
    parser.add_argument(
        "--loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="event loop: uvloop, as the controller runs when installed (default), or asyncio's",
    )
    args = parser.parse_args(argv)
    if args.loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(args.host, args.port))
    else:
        asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
