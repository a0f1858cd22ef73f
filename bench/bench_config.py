"""The hall config the benchmarks run: the demo hall without its devices, caps or hours."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from hall_controller.access import token_hash

ROOT = Path(__file__).resolve().parent.parent
DEMO_CONFIG = ROOT / "config" / "demo-hall.toml"
# A fresh token per run for the benchmarks' own system account (every role).
BENCH_TOKEN = secrets.token_urlsafe(32)
BENCH_AUTH = {"Authorization": f"Bearer {BENCH_TOKEN}"}
BENCH_ACCOUNT_TOML = f"""
[[accounts]]
id = "bench"
name_zh = "基准测试"
roles = ["staff", "manager", "technician"]
token_hash = "{token_hash(BENCH_TOKEN)}"
"""


def bench_config_text(source: Path = DEMO_CONFIG) -> str:
    """The demo hall with opening hours off, no daily caps or quotas (10,000 tickets fit) and
    the benchmarks' token account (BENCH_AUTH)."""
    # The hall's devices are not part of these measures: only the queue, the log and HTTP.
    text = source.read_text(encoding="utf-8").partition("\n# === devices")[0] + "\n"
    text, count = re.subn(
        r"(?m)^enforce_opening_hours = \w+", "enforce_opening_hours = false", text
    )
    if count != 1:
        raise SystemExit(f"{source}: cannot find enforce_opening_hours to turn it off")
    return re.sub(r"(?m)^(daily_cap|quotas) = .*\n", "", text) + BENCH_ACCOUNT_TOML
