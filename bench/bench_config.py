"""The hall config the benchmarks run: the demo hall without its devices, caps or hours."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_CONFIG = ROOT / "config" / "demo-hall.toml"


def bench_config_text(source: Path = DEMO_CONFIG) -> str:
    """The demo hall with opening hours off and every daily cap removed (10,000 tickets fit)."""
    # The hall's devices are not part of these measures: only the queue, the log and HTTP.
    text = source.read_text(encoding="utf-8").partition("\n# === devices")[0] + "\n"
    text, count = re.subn(
        r"(?m)^enforce_opening_hours = \w+", "enforce_opening_hours = false", text
    )
    if count != 1:
        raise SystemExit(f"{source}: cannot find enforce_opening_hours to turn it off")
    return re.sub(r"(?m)^daily_cap = .*\n", "", text)
