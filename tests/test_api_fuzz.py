"""Random and hostile requests: never a 5xx, always the error shape; a refusal changes nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote, urlencode

import aiohttp
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_api import T0, Api, Clock, check_error_shape

from hall_controller.services import WINDOW_ACTIONS
from hall_controller.settings import load_settings

from accounts import AUTH

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

TICKET_ACTIONS = ("cancel", "transfer", "return", "rating")
FIELDS = (
    "theme",
    "priority",
    "id_number",
    "channel",
    "appointment_at",
    "ticket",
    "reason",
    "score",
    "window",
)


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@pytest.fixture
async def api(demo_config_path: Path, tmp_path: Path) -> AsyncIterator[Api]:
    """A hall with some history: tickets waiting, one being served, windows in every state."""
    async with aiohttp.ClientSession(headers=AUTH) as session:
        server = Api(load_settings(demo_config_path), tmp_path / "data", Clock(T0), session)
        await server.start()
        try:
            for theme in ("social", "social", "police", "pickup", "registration"):
                await server.issue(theme)
            for window in ("1", "5", "11", "12"):
                await server.post(f"/api/v1/windows/{window}/open")
            await server.post("/api/v1/windows/1/call")
            await server.post("/api/v1/windows/11/call")
            await server.post("/api/v1/windows/11/finish")
            await server.post("/api/v1/windows/5/pause", {"reason": "meeting"})
            yield server
        finally:
            await server.stop()


async def send_and_check(
    api: Api,
    method: str,
    path: str,
    *,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> int:
    """Send one request; no 5xx, errors well formed, and a refusal leaves the hall as it was."""
    before = await api.state()
    # Api.request fails on any 5xx and checks the reply against the OpenAPI document.
    reply = await api.request(method, path, data=data, headers=headers, tick=0)
    if reply.status >= 400:
        check_error_shape(reply.body)
    if reply.status == 204:
        assert reply.body is None
    after = await api.state()
    if 400 <= reply.status < 500 or method == "GET":
        assert after == before, f"{method} {path} -> {reply.status} changed the hall"
    health = await api.get("/healthz")
    assert health["status"] == "ok"
    return reply.status


# ----------------------------------------------------------------- strategies

_SURROGATES = st.sampled_from(["\ud800", "a\udfffb", "\udbff\udc00"])
_BIG_INTS = st.sampled_from([10**20, -(10**20), 2**63, 10**400, -(10**400)])
_FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e308, 5e-324])
_MEANINGFUL = st.sampled_from(
    [
        "social",
        "police",
        "pickup",
        "elderly",
        "veteran",
        "A001",
        "a002",
        "20261128-B001",
        "F001",
        "1",
        "12",
        "13",
        "kiosk",
        "11010519491231002X",
        "110105194912310021",
        "　",
        "",
        " social ",
    ]
)
_TEXT = st.text(max_size=40) | _MEANINGFUL | _SURROGATES | st.text(min_size=190, max_size=300)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | _BIG_INTS
    | _FLOATS
    | _TEXT
    | st.integers(min_value=-2, max_value=8)
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)
# Objects with the API's own field names are what get past the parser to the checks behind it.
FIELD_OBJECTS = st.dictionaries(
    st.sampled_from(FIELDS) | st.text(max_size=10) | _SURROGATES, JSON_VALUES, max_size=5
)
# ... and bodies that are nearly right, so that some writes succeed and change the hall.
PLAUSIBLE_OBJECTS = st.dictionaries(
    st.sampled_from(FIELDS),
    _MEANINGFUL | st.integers(min_value=0, max_value=6) | st.none(),
    max_size=2,
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes | None:
    """A request body: JSON of any shape, JSON-ish text, bytes that are not UTF-8, or nothing."""
    kind = draw(st.sampled_from(["plausible", "object", "object", "value", "bytes", "special"]))
    if kind in ("plausible", "object", "value"):
        strategy = {"plausible": PLAUSIBLE_OBJECTS, "object": FIELD_OBJECTS, "value": JSON_VALUES}
        value = draw(strategy[kind])
        text = json.dumps(value, ensure_ascii=draw(st.booleans()))
        # Lone surrogates either stay \\u escapes or become bytes that are not UTF-8.
        return text.encode("utf-8", "surrogatepass")
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    return draw(
        st.sampled_from(
            [
                None,
                b"",
                b"   \n",
                b"null",
                b"[]",
                b'"theme"',
                b'{"theme": "social"',
                b'{"theme": "\xff\xfe"}',
                b'{"theme": "social"}\x00',
                b'\xef\xbb\xbf{"theme": "social"}',
                b'{"theme": NaN}',
                b'{"appointment_at": Infinity, "theme": "social"}',
                b'{"appointment_at": 1e999, "theme": "social"}',
                b'{"theme": "social", "theme": "police"}',
                b"[" * 5000 + b"]" * 5000,
                b'{"a":' * 3000 + b"1" + b"}" * 3000,
                b'{"score": ' + b"9" * 5000 + b"}",
                b'{"reason": "' + b"x" * 17000 + b'"}',
            ]
        )
    )


def _segment(options: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.sampled_from(options) | st.text(min_size=1, max_size=12).map(
        lambda s: quote(s, safe="")
    )


WINDOW_IDS = _segment(("1", "5", "11", "12", "99", "0", "%FF", "1%2F2"))
TICKET_IDS = _segment(("A001", "a002", "20261128-B001", "F001", "C001", "Z999", "%ED%A0%80"))


@st.composite
def post_paths(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return "/api/v1/tickets"
    if draw(st.booleans()):
        window = draw(WINDOW_IDS)
        action = draw(_segment(("call", *WINDOW_ACTIONS)))
        return f"/api/v1/windows/{window}/{action}"
    ticket = draw(TICKET_IDS)
    action = draw(_segment(TICKET_ACTIONS))
    return f"/api/v1/tickets/{ticket}/{action}"


_KEY_CHARS = "".join(chr(c) for c in range(0x21, 0x7F))
IDEMPOTENCY_KEYS = (
    st.none()
    | st.text(alphabet=_KEY_CHARS, min_size=1, max_size=128)
    | st.sampled_from(["", " ", "a b", "x" * 129, "\t"])
)
ACTORS = (
    st.none()
    | st.from_regex(r"[A-Za-z0-9:_.@-]{1,64}", fullmatch=True)
    | st.sampled_from(["", "clerk 1", "x" * 65, "<script>", "ö", "a/b"])
)
CONTENT_TYPES = st.sampled_from(
    [None, "application/json", "application/json; charset=latin-1", "text/plain", "x/y"]
)


@st.composite
def headers(draw: st.DrawFn) -> dict[str, str]:
    out: dict[str, str] = {}
    if draw(st.integers(min_value=0, max_value=2)) == 0:
        return out  # most clients send no special headers at all
    key = draw(IDEMPOTENCY_KEYS)
    if key is not None:
        out["Idempotency-Key"] = key
    actor = draw(ACTORS)
    if actor is not None:
        out["X-Actor"] = actor
    content_type = draw(CONTENT_TYPES)
    if content_type is not None:
        out["Content-Type"] = content_type
    return out


GET_PATHS = st.sampled_from(
    [
        "/healthz",
        "/api/v1/hall",
        "/api/v1/themes",
        "/api/v1/windows",
        "/api/v1/tickets",
        "/api/v1/openapi.json",
    ]
) | st.builds(
    lambda kind, ident: f"/api/v1/{kind}/{ident}",
    st.sampled_from(["windows", "tickets"]),
    WINDOW_IDS | TICKET_IDS,
)
QUERY_VALUES = st.sampled_from(
    ["waiting", "called", "serving", "finished", "no_show", "held", "cancelled", "WAITING"]
) | st.text(max_size=20)


@st.composite
def queries(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["none", "pairs", "raw"]))
    if kind == "none":
        return ""
    if kind == "pairs":
        names = st.sampled_from(["status", "Status", "limit", ""]) | st.text(max_size=8)
        pairs = draw(st.lists(st.tuples(names, QUERY_VALUES), max_size=3))
        return "?" + urlencode(pairs)
    raw = draw(st.binary(max_size=30))
    return "?" + quote(raw, safe="=&")


# ----------------------------------------------------------------- the fuzz tests


@fuzz(130)
@given(path=post_paths(), body=bodies(), head=headers())
async def test_random_writes_never_fail_the_server(
    api: Api, path: str, body: bytes | None, head: dict[str, str]
) -> None:
    status = await send_and_check(api, "POST", path, data=body, headers=head)
    event(f"status {status}")


@fuzz(60)
@given(path=GET_PATHS, query=queries(), head=headers())
async def test_random_reads_never_fail_or_change_the_server(
    api: Api, path: str, query: str, head: dict[str, str]
) -> None:
    status = await send_and_check(api, "GET", path + query, headers=head)
    event(f"status {status}")
    if path in ("/healthz", "/api/v1/hall", "/api/v1/themes", "/api/v1/windows"):
        assert status == 200


# ----------------------------------------------------------------- known hostile requests


HOSTILE: list[tuple[str, str, bytes, int]] = [
    # A number no double can hold is unreadable JSON here, like NaN.
    ("/api/v1/tickets", "infinite appointment", b'{"theme":"social","appointment_at":1e400}', 400),
    ("/api/v1/tickets", "NaN appointment", b'{"theme":"social","appointment_at":NaN}', 400),
    ("/api/v1/tickets", "-Infinity", b'{"theme":"social","appointment_at":-Infinity}', 400),
    (
        "/api/v1/tickets",
        "huge int",
        b'{"theme":"social","appointment_at":' + b"9" * 400 + b"}",
        400,
    ),
    (
        "/api/v1/tickets",
        "4301 digits",
        b'{"theme":"social","appointment_at":' + b"9" * 4301 + b"}",
        400,
    ),
    ("/api/v1/tickets", "surrogate theme", b'{"theme":"\\ud800"}', 400),
    ("/api/v1/tickets", "surrogate channel", b'{"theme":"social","channel":"\\udfff"}', 400),
    ("/api/v1/tickets", "surrogate id", b'{"theme":"social","id_number":"\\ud800"}', 400),
    ("/api/v1/tickets", "surrogate field name", b'{"\\ud800":1}', 400),
    ("/api/v1/tickets", "deep nesting", b'{"theme":' + b"[" * 5000 + b"]" * 5000 + b"}", 400),
    ("/api/v1/tickets", "not UTF-8", b'{"theme":"\xff"}', 400),
    ("/api/v1/tickets", "too large", b'{"theme":"' + b"s" * 20000 + b'"}', 413),
    ("/api/v1/windows/5/pause", "surrogate pause reason", b'{"reason":"\\ud800"}', 400),
    ("/api/v1/windows/1/hold", "surrogate hold reason", b'{"reason":"\\ud800"}', 400),
    ("/api/v1/tickets/A002/cancel", "surrogate cancel reason", b'{"reason":"\\udc00"}', 400),
    ("/api/v1/tickets/A002/transfer", "surrogate theme", b'{"theme":"\\udc00"}', 400),
    ("/api/v1/windows/12/call", "surrogate ticket", b'{"ticket":"\\udc00"}', 400),
    ("/api/v1/tickets/F001/rating", "huge score", b'{"score":' + b"9" * 300 + b"}", 422),
]


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [pytest.param(path, body, status, id=f"{path}:{name}") for path, name, body, status in HOSTILE],
)
async def test_hostile_bodies_are_refused_cleanly(
    api: Api, path: str, body: bytes, status: int
) -> None:
    got = await send_and_check(api, "POST", path, data=body)
    assert got == status
    # ... and the hall still takes ordinary work afterwards.
    ticket = await api.issue("social")
    assert ticket["number"] == "A003"
