"""The hand-built minimum of a durable ticket issue, to measure the controller against.

aiohttp and one SQLite WAL commit with synchronous=FULL per request, inline in the handler, and
nothing else: no domain model, no forecast, no event bus, no writer thread. Whatever the
controller costs beyond this is its own overhead (or, with group commit, its own gain).

    python bench/minimum_server.py --port 0 --db /tmp/minimum.sqlite3

prints the port it listens on as the first line of stdout, then serves until SIGINT/SIGTERM.
It answers POST /api/v1/tickets {"theme": "..."} with 201 {"id": N, "theme": "..."}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

PATH = "/api/v1/tickets"
_CONN: web.AppKey[sqlite3.Connection] = web.AppKey("conn", sqlite3.Connection)


def open_db(path: Path) -> sqlite3.Connection:
    """An autocommit connection in WAL mode with synchronous=FULL, and the one table."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise SystemExit(f"{path}: WAL mode unavailable (got {mode!r})")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS tickets("
        "id INTEGER PRIMARY KEY, theme TEXT NOT NULL, at REAL NOT NULL)"
    )
    return conn


async def issue(request: web.Request) -> web.Response:
    """Parse the body, insert one row, commit (fsync), answer 201."""
    try:
        body = json.loads(await request.read())
    except ValueError:
        return web.json_response({"error": "body is not JSON"}, status=400)
    theme = body.get("theme") if isinstance(body, dict) else None
    if not isinstance(theme, str) or not theme:
        return web.json_response({"error": "theme is required"}, status=422)
    conn = request.app[_CONN]
    conn.execute("BEGIN IMMEDIATE")
    cursor = conn.execute("INSERT INTO tickets(theme, at) VALUES (?, ?)", (theme, time.time()))
    conn.execute("COMMIT")
    return web.json_response({"id": cursor.lastrowid, "theme": theme}, status=201)


def build_app(conn: sqlite3.Connection) -> web.Application:
    """The one-route application."""
    app = web.Application()
    app[_CONN] = conn
    app.router.add_post(PATH, issue)
    return app


async def serve(host: str, port: int, db: Path) -> None:
    """Serve until SIGINT/SIGTERM, printing the bound port first."""
    conn = open_db(db)
    runner = web.AppRunner(build_app(conn), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    bound = int(runner.addresses[0][1])
    print(bound, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        with contextlib.suppress(sqlite3.Error):
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 for any free port")
    parser.add_argument("--db", type=Path, required=True, help="SQLite file (created)")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.db))
    return 0


if __name__ == "__main__":
    sys.exit(main())
