"""The HTTP API as a client sees it: replies, refusals, retries, restarts and the OpenAPI schema.

Every JSON reply these tests receive is checked against the OpenAPI document of its path,
method and status, so the document cannot drift from what the server really answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import structlog.testing
from aiohttp import web
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from hall_controller.app import Controller, start_controller
from hall_controller.services import WINDOW_ACTIONS, ServiceUnavailable
from hall_controller.settings import Settings, load_settings
from hall_controller.web.openapi import openapi_document

from accounts import AUTH

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = 1795831200.0  # 2026-11-28 10:00 in Guangzhou
DAY = "2026-11-28"
THEMES = ("social", "police", "registration", "licensing", "construction", "pickup")
TICKET_ACTIONS = ("cancel", "transfer", "return", "rating")

_MISSING: Any = object()


# ----------------------------------------------------------------- resident ID numbers


_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(birth: date, *, region: str = "440106", serial: str = "731") -> str:
    """A synthetic 18-character resident ID number with a correct GB 11643 check digit."""
    first17 = f"{region}{birth:%Y%m%d}{serial}"
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return first17 + "10X98765432"[total % 11]


def with_wrong_check_digit(number: str) -> str:
    wrong = "1" if number[-1] != "1" else "2"
    return number[:-1] + wrong


# ----------------------------------------------------------------- OpenAPI checking


_DOC_URI = "https://hall-controller.test/openapi.json"


@cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(
        openapi_document(), default_specification=DRAFT202012
    )
    registry: Registry[Any] = Registry().with_resource(_DOC_URI, resource)
    return registry


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


@cache
def _validator(*pointer: str) -> Any:
    ref = f"{_DOC_URI}#/" + "/".join(_escape(p) for p in pointer)
    return Draft202012Validator(
        {"$ref": ref},
        registry=_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


@cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    out = []
    for template in openapi_document()["paths"]:
        pattern = re.escape(template)
        pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", pattern)
        out.append((re.compile(f"^{pattern}$"), template))
    # Literal paths win over templated ones (/windows/{window}/call over nothing else).
    out.sort(key=lambda item: item[1].count("{"))
    return out


def openapi_template(path: str) -> str | None:
    """The document's path template a concrete request path belongs to, if any."""
    bare = path.split("?", 1)[0]
    for pattern, template in _templates():
        if pattern.match(bare):
            return template
    return None


def check_error_shape(body: Any) -> None:
    """The one error shape of the API."""
    assert isinstance(body, dict), body
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, body
    assert isinstance(error["code"], str), body
    assert error["code"], body
    assert isinstance(error["message"], str), body
    assert error["message"], body
    assert isinstance(error["details"], dict), body


def check_against_openapi(method: str, path: str, status: int, body: Any, is_json: bool) -> None:
    """The reply matches the documented schema of its path, method and status."""
    if status >= 400:
        assert is_json, f"{method} {path} -> {status} is not JSON"
        if path != "/healthz":  # a failed health check answers its own documented Health body
            check_error_shape(body)
    template = openapi_template(path)
    operation = None
    if template is not None:
        operation = openapi_document()["paths"][template].get(method.lower())
    if operation is None:
        # A path or method the API does not have (an unknown action): only an error comes back.
        assert 400 <= status < 500, f"{method} {path} -> {status} but is not documented"
        _validator("components", "schemas", "Error").validate(body)
        return
    assert template is not None
    responses = operation["responses"]
    assert str(status) in responses, f"{method} {template} does not document status {status}"
    content = responses[str(status)].get("content")
    if content is None:
        assert not is_json or body is None, f"{method} {template} {status} documents no body"
        return
    assert is_json, f"{method} {template} {status} should be JSON"
    pointer = ("paths", template, method.lower(), "responses", str(status), "content")
    _validator(*pointer, "application/json", "schema").validate(body)


# ----------------------------------------------------------------- the test server


class Clock:
    """The hall's clock, moved by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(slots=True)
class Reply:
    status: int
    body: Any
    text: str


@dataclass(repr=False)
class Api:
    """A running controller on a temporary data dir, and a client session talking to it."""

    settings: Settings
    data_dir: Path
    clock: Clock
    session: aiohttp.ClientSession
    controller: Controller | None = None
    replies: list[Reply] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Api({self.data_dir})"

    async def start(self) -> None:
        assert self.controller is None
        self.controller = await start_controller(
            self.settings, self.data_dir, host="127.0.0.1", port=0, clock=lambda: self.clock.now
        )

    async def stop(self) -> None:
        if self.controller is not None:
            controller, self.controller = self.controller, None
            await controller.close()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    @property
    def url(self) -> str:
        assert self.controller is not None, "the controller is not running"
        return self.controller.url

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = _MISSING,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        tick: float | None = None,
    ) -> Reply:
        """Send one request and check its reply against the OpenAPI document.

        A write moves the clock one second first (`tick`), as a real hall does between
        presses: the controller may reuse a forecast computed at the same instant.
        """
        if tick is None:
            tick = 1.0 if method == "POST" else 0.0
        self.clock.advance(tick)
        kwargs: dict[str, Any] = {"headers": dict(headers or {})}
        if json is not _MISSING:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = data
        async with self.session.request(method, self.url + path, **kwargs) as resp:
            text = await resp.text()
            is_json = resp.content_type == "application/json"
            body = await resp.json() if is_json else None
            reply = Reply(resp.status, body, text)
        assert reply.status < 500, f"{method} {path} -> {reply.status}: {text}"
        if reply.status == 204:
            assert text == "", text
        check_against_openapi(method, path, reply.status, body, is_json)
        self.replies.append(reply)
        return reply

    async def get(self, path: str) -> Any:
        """GET that must answer 200; the body."""
        reply = await self.request("GET", path)
        assert reply.status == 200, f"GET {path} -> {reply.status}: {reply.text}"
        return reply.body

    async def post(
        self,
        path: str,
        body: Any = _MISSING,
        *,
        expect: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """POST that must answer `expect`; the body."""
        reply = await self.request("POST", path, json=body, headers=headers)
        assert reply.status == expect, f"POST {path} -> {reply.status}: {reply.text}"
        return reply.body

    async def issue(self, theme: str = "social", **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = await self.post(
            "/api/v1/tickets", {"theme": theme, **fields}, expect=201
        )
        return body

    async def error(
        self, method: str, path: str, status: int, body: Any = _MISSING
    ) -> dict[str, Any]:
        """A refused request: its status and the `error` object."""
        reply = await self.request(method, path, json=body)
        assert reply.status == status, f"{method} {path} -> {reply.status}: {reply.text}"
        error: dict[str, Any] = reply.body["error"]
        return error

    async def state(self) -> tuple[Any, Any, Any]:
        """What a client can see of the hall: tickets, windows and the state version."""
        health = await self.get("/healthz")
        return (
            await self.get("/api/v1/tickets"),
            await self.get("/api/v1/windows"),
            health["version"],
        )


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@contextlib.asynccontextmanager
async def running_api(settings: Settings, data_dir: Path, clock: Clock) -> AsyncIterator[Api]:
    """A controller for `settings` and a client holding the tests' token (every role)."""
    async with aiohttp.ClientSession(headers=AUTH) as session:
        server = Api(settings, data_dir, clock, session)
        await server.start()
        try:
            yield server
        finally:
            await server.stop()


@pytest.fixture
async def api(demo_config_path: Path, tmp_path: Path, clock: Clock) -> AsyncIterator[Api]:
    async with running_api(load_settings(demo_config_path), tmp_path / "data", clock) as server:
        yield server


def test_clock_starts_at_ten_in_guangzhou() -> None:
    assert datetime.fromtimestamp(T0, SHANGHAI) == datetime(2026, 11, 28, 10, 0, tzinfo=SHANGHAI)


def test_resident_id_helper_matches_a_published_example() -> None:
    # The example number of GB 11643-1999 itself.
    assert resident_id(date(1949, 12, 31), region="110105", serial="002") == "11010519491231002X"


# ----------------------------------------------------------------- the document


async def test_openapi_document_is_valid_and_describes_every_route(api: Api) -> None:
    served = await api.get("/api/v1/openapi.json")
    assert served == openapi_document()
    validate_openapi(served)
    assert served["openapi"].startswith("3.1")

    assert api.controller is not None
    paths = served["paths"]
    routes = [r for r in api.controller.runner.app.router.routes() if r.method != "HEAD"]
    assert routes
    for route in routes:
        canonical = route.resource.canonical if route.resource is not None else ""
        if isinstance(route.resource, web.StaticResource):
            canonical += "/{path}"  # the screens' files
        method = route.method.lower()
        if canonical.endswith("/{action}"):
            base = canonical.removesuffix("/{action}")
            actions = WINDOW_ACTIONS if base == "/api/v1/windows/{window}" else TICKET_ACTIONS
            for action in actions:
                path = f"{base}/{action}"
                assert method in paths.get(path, {}), f"{method.upper()} {path} is undocumented"
        else:
            assert method in paths.get(canonical, {}), f"{method.upper()} {canonical} undocumented"
    # ... and the document describes nothing the server does not have.
    served_paths = {
        r.resource.canonical + ("/{path}" if isinstance(r.resource, web.StaticResource) else "")
        for r in routes
        if r.resource is not None
    }
    for path in paths:
        action_base = path.rsplit("/", 1)[0] + "/{action}"
        assert path in served_paths or action_base in served_paths, path


# ----------------------------------------------------------------- reads


async def test_health_and_hall(api: Api) -> None:
    health = await api.get("/healthz")
    assert health == {"status": "ok", "hall": "gz-tianhe-demo", "day": DAY, "version": 0}

    hall = await api.get("/api/v1/hall")
    assert hall["id"] == "gz-tianhe-demo"
    assert hall["timezone"] == "Asia/Shanghai"
    groups = {g["id"]: g for g in hall["priority_groups"]}
    assert set(groups) == {"elderly", "disabled", "pregnant", "veteran"}
    assert groups["elderly"]["min_age"] == 60
    assert hall["state"]["day"] == DAY
    assert hall["state"]["at"] == "2026-11-28T10:00:00+08:00"
    assert hall["state"]["waiting"] == dict.fromkeys(THEMES, 0)
    assert set(hall["state"]["windows"]) == {str(n) for n in range(1, 13)}


async def test_themes_list_prefixes_and_waiting_counts_move(api: Api) -> None:
    themes = await api.get("/api/v1/themes")
    assert [t["id"] for t in themes] == list(THEMES)
    assert [t["prefix"] for t in themes] == list("ABCDEF")
    assert all(t["waiting"] == 0 and t["issued"] == 0 and t["open_now"] for t in themes)
    assert {t["id"]: t["daily_cap"] for t in themes}["pickup"] is None

    await api.issue("social")
    await api.issue("social")
    await api.issue("pickup")
    themes = {t["id"]: t for t in await api.get("/api/v1/themes")}
    assert themes["social"]["waiting"] == 2
    assert themes["social"]["issued"] == 2
    assert themes["pickup"]["waiting"] == 1
    assert themes["police"]["waiting"] == 0
    hall = await api.get("/api/v1/hall")
    assert hall["state"]["waiting"]["social"] == 2


async def test_windows_list_and_one_window(api: Api) -> None:
    windows = await api.get("/api/v1/windows")
    assert [w["id"] for w in windows] == [str(n) for n in range(1, 13)]
    assert all(w["status"] == "closed" and w["ticket"] is None for w in windows)
    twelve = await api.get("/api/v1/windows/12")
    assert twelve["themes"] == ["social", "police", "registration", "licensing", "construction"]
    assert "个性化" in twelve["name_zh"]
    one = await api.get("/api/v1/windows/1")
    assert one == windows[0]


async def test_waiting_list_is_in_calling_order(api: Api) -> None:
    await api.post("/api/v1/windows/1/open")
    a1 = await api.issue("social")
    a2 = await api.issue("social")
    a3 = await api.issue("social", priority="elderly")
    b1 = await api.issue("police")
    waiting = await api.get("/api/v1/tickets?status=waiting")
    numbers = [t["number"] for t in waiting]
    assert sorted(numbers) == sorted(t["number"] for t in (a1, a2, a3, b1))
    # The elderly ticket goes first (head start); the window prefers its first theme.
    assert numbers == ["A003", "A001", "A002", "B001"]
    for ticket in waiting:
        assert ticket["status"] == "waiting"
        assert ticket["position"] is not None
        assert ticket["position"] >= 1
        assert ticket["ahead"] == ticket["position"] - 1
        assert isinstance(ticket["estimated_wait_s"], int)
    assert waiting[0]["estimated_wait_s"] == 0
    waits = [t["estimated_wait_s"] for t in waiting]
    assert waits == sorted(waits)
    social = [t for t in waiting if t["theme"] == "social"]
    assert [t["position"] for t in social] == [1, 2, 3]

    # The window then calls in exactly that order.
    called = []
    for _ in numbers:
        result = await api.post("/api/v1/windows/1/call")
        called.append(result["ticket"]["number"])
        await api.post("/api/v1/windows/1/finish")
    assert called == numbers
    assert await api.get("/api/v1/tickets?status=waiting") == []


async def test_ticket_by_id_and_by_number(api: Api) -> None:
    issued = await api.issue("registration")
    assert issued["id"] == "20261128-C001"
    by_id = await api.get("/api/v1/tickets/20261128-C001")
    by_number = await api.get("/api/v1/tickets/C001")
    by_lower = await api.get("/api/v1/tickets/c001")
    assert by_id == by_number == by_lower
    assert by_id["number"] == "C001"
    assert by_id["theme"] == "registration"

    error = await api.error("GET", "/api/v1/tickets/C002", 404)
    assert "C002" in error["message"]
    all_tickets = await api.get("/api/v1/tickets")
    assert [t["id"] for t in all_tickets] == ["20261128-C001"]
    error = await api.error("GET", "/api/v1/tickets?status=waitng", 422)
    assert 'did you mean "waiting"' in error["message"]


# ----------------------------------------------------------------- issuing


async def test_issue_ticket_reply(api: Api) -> None:
    await api.post("/api/v1/windows/1/open")
    reply = await api.request("POST", "/api/v1/tickets", json={"theme": "social"})
    assert reply.status == 201
    ticket = reply.body
    assert ticket["id"] == "20261128-A001"
    assert ticket["number"] == "A001"
    assert ticket["theme"] == "social"
    assert ticket["theme_name_zh"] == "社会民生"
    assert ticket["priority"] is None
    assert ticket["status"] == "waiting"
    assert ticket["channel"] == "api"
    assert ticket["issued_at"] == "2026-11-28T10:00:02+08:00"
    assert (ticket["position"], ticket["ahead"], ticket["estimated_wait_s"]) == (1, 0, 0)

    second = await api.issue("social", channel="kiosk", priority="disabled")
    assert second["number"] == "A002"
    assert second["priority"] == "disabled"
    assert second["channel"] == "kiosk"
    third = await api.issue("social")
    assert third["number"] == "A003"
    assert third["position"] == 3
    assert third["ahead"] == 2
    assert third["estimated_wait_s"] > 0
    pickup = await api.issue("pickup")
    assert pickup["number"] == "F001"

    error = await api.error("POST", "/api/v1/tickets", 422, {"theme": "socail"})
    assert 'did you mean "social"' in error["message"]
    error = await api.error("POST", "/api/v1/tickets", 422, {"theme": "social", "priority": "vip"})
    assert "vip" in error["message"]
    error = await api.error("POST", "/api/v1/tickets", 422, {})
    assert error["details"] == {"field": "theme"}
    error = await api.error("POST", "/api/v1/tickets", 422, {"theme": "social", "colour": "red"})
    assert "colour" in error["message"]


async def test_elderly_priority_from_id_number(api: Api) -> None:
    # Sixty on the hall's date (2026-11-28): elderly. One day short of sixty: not.
    sixty = resident_id(date(1966, 11, 28), serial="111")
    almost = resident_id(date(1966, 11, 29), serial="222")
    old = await api.issue("social", id_number=sixty)
    assert old["priority"] == "elderly"
    assert old["age_band"] == "60-69"
    young = await api.issue("social", id_number=almost)
    assert young["priority"] is None
    assert young["age_band"] == "45-59"
    # A lower-case x check character is the same number.
    x_number = resident_id(date(1949, 12, 31), region="110105", serial="002")
    assert x_number.endswith("X")
    lower = await api.issue("police", id_number=x_number.lower())
    assert lower["priority"] == "elderly"
    assert lower["age_band"] == "70-79"
    # A group chosen at the kiosk stays as chosen.
    pregnant = await api.issue("pickup", id_number=sixty, priority="pregnant")
    assert pregnant["priority"] == "pregnant"


async def test_bad_id_number_is_refused_without_echoing_it(api: Api) -> None:
    good = resident_id(date(1950, 3, 14), serial="456")
    bad = with_wrong_check_digit(good)
    for number in (
        bad,
        good[:17],
        good + "1",
        "44010619500314456Y",
        good[:6] + "19501332" + "000X",
    ):
        error = await api.error(
            "POST", "/api/v1/tickets", 422, {"theme": "social", "id_number": number}
        )
        assert number not in str(error), error
        assert number[:14] not in str(error), error
        assert "id_number" in error["message"]
    check = await api.error("POST", "/api/v1/tickets", 422, {"theme": "social", "id_number": bad})
    assert "check digit" in check["message"]
    assert await api.get("/api/v1/tickets") == []


async def test_one_active_ticket_per_person_per_theme(api: Api) -> None:
    person = resident_id(date(1985, 6, 1), serial="333")
    first = await api.issue("social", id_number=person)
    error = await api.error(
        "POST", "/api/v1/tickets", 409, {"theme": "social", "id_number": person}
    )
    assert first["number"] in error["message"]
    assert person not in str(error)
    # Another theme is fine; another person in the same theme is fine.
    await api.issue("police", id_number=person)
    await api.issue("social", id_number=resident_id(date(1985, 6, 1), serial="334"))
    # Once the first ticket is cancelled the person may take a new one.
    await api.post(f"/api/v1/tickets/{first['id']}/cancel", {"reason": "left"})
    again = await api.issue("social", id_number=person)
    assert again["number"] == "A003"


async def test_id_number_never_leaves_the_request(
    api: Api, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    number = resident_id(date(1951, 7, 19), region="440305", serial="918")
    wrong = with_wrong_check_digit(number)
    secrets = (number, number[:17], wrong)
    with structlog.testing.capture_logs() as captured:
        await api.post("/api/v1/windows/1/open")
        ticket = await api.issue("social", id_number=number)
        assert ticket["priority"] == "elderly"
        await api.error("POST", "/api/v1/tickets", 409, {"theme": "social", "id_number": number})
        await api.error("POST", "/api/v1/tickets", 422, {"theme": "social", "id_number": wrong})
        retry = {"Idempotency-Key": "kiosk-3-0042"}
        body = {"theme": "pickup", "id_number": number}
        await api.post("/api/v1/tickets", body, expect=201, headers=retry)
        await api.post("/api/v1/tickets", body, expect=201, headers=retry)
        await api.post("/api/v1/windows/1/call")
        await api.get("/api/v1/tickets")
        await api.get("/api/v1/hall")
        await api.restart()
        await api.get(f"/api/v1/tickets/{ticket['id']}")
        await api.stop()

    for reply in api.replies:
        for secret in secrets:
            assert secret not in reply.text
    logged = repr(captured) + caplog.text + "".join(capfd.readouterr())
    for secret in secrets:
        assert secret not in logged

    files = sorted(p for p in api.data_dir.iterdir() if p.is_file())
    assert any(p.name == "events.sqlite3" for p in files)
    for path in [*files, api.data_dir / "events.sqlite3-wal"]:
        if not path.exists():
            continue
        raw = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in raw, f"{secret} found in {path.name}"
            assert secret.encode("utf-16-le") not in raw, f"{secret} found in {path.name}"
    await api.start()  # the fixture closes it again


# ----------------------------------------------------------------- windows


async def test_window_lifecycle(api: Api) -> None:
    for _ in range(3):
        await api.issue("social")

    opened = await api.post("/api/v1/windows/1/open")
    assert set(opened) == {"window"}
    assert opened["window"]["status"] == "open"

    call = await api.post("/api/v1/windows/1/call")
    assert call["ticket"]["number"] == "A001"
    assert call["ticket"]["status"] == "called"
    assert call["ticket"]["window"] == "1"
    assert call["window"]["status"] == "calling"
    assert call["window"]["ticket"] == {"id": "20261128-A001", "number": "A001", "status": "called"}
    reason = call["reason"]
    assert reason["rule"] == "longest_wait"
    assert reason["window"] == "1"
    assert isinstance(reason["explanation"], str)
    assert reason["explanation"]
    chosen = [c for c in reason["candidates"] if c["chosen"]]
    assert [c["number"] for c in chosen] == ["A001"]
    assert call["ticket"]["call"] == reason

    recalled = await api.post("/api/v1/windows/1/recall")
    assert recalled["ticket"]["recalls"] == 1
    assert recalled["window"]["status"] == "calling"

    started = await api.post("/api/v1/windows/1/start")
    assert started["ticket"]["status"] == "serving"
    assert started["window"]["status"] == "serving"
    assert started["ticket"]["started_at"] is not None

    finished = await api.post("/api/v1/windows/1/finish")
    assert finished["ticket"]["status"] == "finished"
    assert finished["ticket"]["window"] is None
    assert finished["window"]["status"] == "open"
    assert finished["window"]["ticket"] is None
    assert finished["window"]["served"] == 1

    call = await api.post("/api/v1/windows/1/call")
    assert call["ticket"]["number"] == "A002"
    no_show = await api.post("/api/v1/windows/1/no-show")
    assert no_show["ticket"]["status"] == "no_show"
    assert no_show["window"]["status"] == "open"

    call = await api.post("/api/v1/windows/1/call")
    assert call["ticket"]["number"] == "A003"
    held = await api.post("/api/v1/windows/1/hold", {"reason": "fetching a document"})
    assert held["ticket"]["status"] == "held"
    assert held["window"]["status"] == "open"
    assert held["window"]["ticket"] is None
    assert (await api.get("/api/v1/tickets/A003"))["status"] == "held"
    nobody = await api.request("POST", "/api/v1/windows/1/call")
    assert nobody.status == 204  # a held ticket is not called again until it returns

    returned = await api.post("/api/v1/tickets/A003/return")
    assert returned["status"] == "waiting"
    assert returned["target_window"] == "1"
    assert returned["issued_at"] == "2026-11-28T10:00:03+08:00"
    call = await api.post("/api/v1/windows/1/call")
    assert call["ticket"]["number"] == "A003"
    await api.post("/api/v1/windows/1/finish")

    error = await api.error("POST", "/api/v1/windows/1/pause", 422)
    assert error["details"] == {"field": "reason"}
    error = await api.error("POST", "/api/v1/windows/1/pause", 422, {"reason": "  "})
    paused = await api.post("/api/v1/windows/1/pause", {"reason": "lunch break"})
    assert paused["window"]["status"] == "paused"
    assert paused["window"]["pause_reason"] == "lunch break"
    error = await api.error("POST", "/api/v1/windows/1/call", 409)
    assert "paused" in error["message"]
    resumed = await api.post("/api/v1/windows/1/resume")
    assert resumed["window"]["status"] == "open"
    assert resumed["window"]["pause_reason"] is None
    closed = await api.post("/api/v1/windows/1/close")
    assert closed["window"]["status"] == "closed"
    assert (await api.get("/api/v1/windows/1"))["status"] == "closed"


async def test_call_a_named_ticket(api: Api) -> None:
    for _ in range(3):
        await api.issue("social")
    await api.issue("pickup")
    await api.post("/api/v1/windows/2/open")
    call = await api.post("/api/v1/windows/2/call", {"ticket": "A003"})
    assert call["ticket"]["number"] == "A003"
    assert call["reason"]["rule"] == "specific"
    assert [c["chosen"] for c in call["reason"]["candidates"]] == [True]
    await api.post("/api/v1/windows/2/finish")
    call = await api.post("/api/v1/windows/2/call", {"ticket": "20261128-A002"})
    assert call["ticket"]["number"] == "A002"
    await api.post("/api/v1/windows/2/finish")

    error = await api.error("POST", "/api/v1/windows/2/call", 409, {"ticket": "F001"})
    assert "does not serve" in error["message"]
    error = await api.error("POST", "/api/v1/windows/2/call", 409, {"ticket": "A003"})
    assert "finished" in error["message"]
    error = await api.error("POST", "/api/v1/windows/2/call", 404, {"ticket": "A009"})
    assert "A009" in error["message"]
    error = await api.error("POST", "/api/v1/windows/2/call", 422, {"ticket": 3})
    assert error["details"] == {"field": "ticket"}


async def test_call_with_nobody_waiting_is_204(api: Api) -> None:
    await api.post("/api/v1/windows/11/open")
    reply = await api.request("POST", "/api/v1/windows/11/call")
    assert (reply.status, reply.text) == (204, "")
    await api.issue("social")  # not a theme window 11 serves
    reply = await api.request("POST", "/api/v1/windows/11/call")
    assert reply.status == 204
    assert (await api.get("/api/v1/windows/11"))["status"] == "open"
    assert (await api.get("/api/v1/tickets/A001"))["status"] == "waiting"


async def test_refused_window_transitions(api: Api) -> None:
    await api.issue("social")
    error = await api.error("POST", "/api/v1/windows/1/call", 409)
    assert error["message"] == "window 1 is closed; open or resume it first"
    assert error["details"] == {"window": "1"}
    await api.post("/api/v1/windows/1/open")
    error = await api.error("POST", "/api/v1/windows/1/open", 409)
    assert "already open" in error["message"]
    error = await api.error("POST", "/api/v1/windows/1/finish", 409)
    assert error["message"] == "window 1 has no ticket to finish"
    error = await api.error("POST", "/api/v1/windows/1/start", 409)
    assert "no ticket" in error["message"]
    error = await api.error("POST", "/api/v1/windows/1/resume", 409)
    assert "not paused" in error["message"]
    await api.post("/api/v1/windows/1/call")
    error = await api.error("POST", "/api/v1/windows/1/call", 409)
    assert "calling A001" in error["message"]
    error = await api.error("POST", "/api/v1/windows/1/close", 409)
    assert "A001" in error["message"]
    error = await api.error("POST", "/api/v1/windows/1/pause", 409, {"reason": "tea"})
    assert "A001" in error["message"]
    error = await api.error("POST", "/api/v1/tickets/A001/return", 409)
    assert "not held" in error["message"]
    error = await api.error("POST", "/api/v1/tickets/A001/rating", 409, {"score": 5})
    assert "not been served" in error["message"]
    window = await api.get("/api/v1/windows/1")
    assert window["status"] == "calling"


async def test_unknown_window_and_unknown_actions_are_404(api: Api) -> None:
    error = await api.error("GET", "/api/v1/windows/13", 404)
    assert error["code"] == "not_found"
    assert 'did you mean "3"' in error["message"]
    error = await api.error("POST", "/api/v1/windows/13/open", 404)
    assert "did you mean" in error["message"]
    error = await api.error("POST", "/api/v1/windows/w1/call", 404)
    assert "w1" in error["message"]

    error = await api.error("POST", "/api/v1/windows/1/opne", 404)
    assert error["code"] == "not_found"
    assert 'did you mean "open"' in error["message"]
    await api.issue("social")
    error = await api.error("POST", "/api/v1/tickets/A001/cancle", 404)
    assert error["code"] == "not_found"
    assert 'did you mean "cancel"' in error["message"]
    error = await api.error("POST", "/api/v1/tickets/A404/cancel", 404)
    assert "A404" in error["message"]
    error = await api.error("GET", "/api/v1/nowhere", 404)
    assert error["code"] == "not_found"
    error = await api.error("DELETE", "/api/v1/tickets/A001", 405)
    assert "DELETE" in error["message"]
    assert (await api.get("/api/v1/tickets/A001"))["status"] == "waiting"


# ----------------------------------------------------------------- ticket actions


async def test_transfer_keeps_arrival_and_priority(api: Api) -> None:
    issued = await api.issue("social", priority="elderly")
    api.clock.advance(600)
    moved = await api.post(
        "/api/v1/tickets/A001/transfer", {"theme": "police", "reason": "wrong queue"}
    )
    assert moved["theme"] == "police"
    assert moved["status"] == "waiting"
    assert moved["issued_at"] == issued["issued_at"]
    assert moved["priority"] == "elderly"
    assert moved["number"] == "A001"
    themes = {t["id"]: t["waiting"] for t in await api.get("/api/v1/themes")}
    assert (themes["social"], themes["police"]) == (0, 1)

    # It is then served by a police window, ahead of a later regular police ticket.
    await api.issue("police")
    await api.post("/api/v1/windows/3/open")
    call = await api.post("/api/v1/windows/3/call")
    assert call["ticket"]["number"] == "A001"

    # A ticket in service can be sent on to a named window, keeping its arrival too.
    to_window = await api.post("/api/v1/tickets/A001/transfer", {"window": "12"})
    assert to_window["status"] == "waiting"
    assert to_window["target_window"] == "12"
    assert to_window["issued_at"] == issued["issued_at"]
    assert (await api.get("/api/v1/windows/3"))["ticket"] is None
    await api.post("/api/v1/windows/12/open")
    call = await api.post("/api/v1/windows/12/call")
    assert call["ticket"]["number"] == "A001"

    error = await api.error("POST", "/api/v1/tickets/B001/transfer", 422, {"theme": "polise"})
    assert 'did you mean "police"' in error["message"]
    error = await api.error("POST", "/api/v1/tickets/B001/transfer", 422, {})
    assert "theme" in error["message"]
    error = await api.error("POST", "/api/v1/tickets/B001/transfer", 409, {"theme": "police"})
    assert "already waits" in error["message"]


async def test_cancel(api: Api) -> None:
    await api.issue("social")
    await api.issue("social")
    cancelled = await api.post("/api/v1/tickets/A001/cancel", {"reason": "went home"})
    assert cancelled["status"] == "cancelled"
    assert cancelled["position"] is None
    waiting = await api.get("/api/v1/tickets?status=waiting")
    assert [t["number"] for t in waiting] == ["A002"]
    assert waiting[0]["position"] == 1
    assert [t["number"] for t in await api.get("/api/v1/tickets?status=cancelled")] == ["A001"]
    error = await api.error("POST", "/api/v1/tickets/A001/cancel", 409)
    assert "already cancelled" in error["message"]
    error = await api.error("POST", "/api/v1/tickets/A002/cancel", 422, {"reason": 5})
    assert error["details"] == {"field": "reason"}
    await api.post("/api/v1/tickets/A002/cancel")


async def test_audit_trail_says_who_did_what_and_when(api: Api) -> None:
    await api.issue("social", id_number=resident_id(date(1950, 5, 17), serial="613"))
    await api.issue("police")
    await api.post("/api/v1/windows/1/open", headers={"X-Actor": "staff:li"})
    await api.post("/api/v1/windows/1/call", headers={"X-Actor": "pad:w1"})
    await api.post("/api/v1/tickets/A001/rating", {"score": 5}, expect=409)
    trail = await api.get("/api/v1/audit")
    assert trail["day"] == "2026-11-28"
    assert [(e["type"], e["actor"]) for e in trail["events"]] == [
        ("TicketIssued", "token:tests"),
        ("TicketIssued", "token:tests"),
        ("WindowOpened", "staff:li"),
        ("TicketCalled", "pad:w1"),
    ]
    assert trail["events"][0]["at"] == "2026-11-28T10:00:01+08:00"
    assert "person_hash" not in trail["events"][0]["data"]
    assert trail["next_after"] is None
    one = await api.get("/api/v1/audit?ticket=A001")
    assert [e["type"] for e in one["events"]] == ["TicketIssued", "TicketCalled"]
    page = await api.get("/api/v1/audit?limit=2")
    assert [e["seq"] for e in page["events"]] == [1, 2]
    rest = await api.get(f"/api/v1/audit?after={page['next_after']}")
    assert [e["seq"] for e in rest["events"]] == [3, 4]
    assert (await api.get("/api/v1/audit?day=2026-11-27"))["events"] == []
    for query in ("day=2026-13-01", "day=yesterday", "limit=0", "after=-1", "tiket=A001"):
        error = await api.error("GET", f"/api/v1/audit?{query}", 422)
        assert error["message"]
    error = await api.error("GET", "/api/v1/audit?tiket=A001", 422)
    assert 'did you mean "ticket"' in error["message"]


async def test_rating_once_from_one_to_five(api: Api) -> None:
    await api.issue("pickup")
    await api.post("/api/v1/windows/11/open")
    await api.post("/api/v1/windows/11/call")
    await api.post("/api/v1/windows/11/finish")
    for bad in (0, 6, -1, "5", True, 4.5, None, [5]):
        error = await api.error("POST", "/api/v1/tickets/F001/rating", 422, {"score": bad})
        assert error["details"] == {"field": "score"}, bad
    await api.error("POST", "/api/v1/tickets/F001/rating", 422, {})
    assert (await api.get("/api/v1/tickets/F001"))["rating"] is None
    rated = await api.post("/api/v1/tickets/F001/rating", {"score": 5})
    assert rated["rating"] == 5
    error = await api.error("POST", "/api/v1/tickets/F001/rating", 409, {"score": 4})
    assert "already rated" in error["message"]
    assert (await api.get("/api/v1/tickets/F001"))["rating"] == 5


# ----------------------------------------------------------------- concurrency


async def test_two_windows_calling_at_once_share_one_ticket(api: Api) -> None:
    await api.issue("social")
    await api.post("/api/v1/windows/1/open")
    await api.post("/api/v1/windows/2/open")
    first, second = await asyncio.gather(
        api.request("POST", "/api/v1/windows/1/call", tick=0),
        api.request("POST", "/api/v1/windows/2/call", tick=0),
    )
    assert sorted([first.status, second.status]) == [200, 204]
    winner = "1" if first.status == 200 else "2"
    ticket = await api.get("/api/v1/tickets/A001")
    assert ticket["status"] == "called"
    assert ticket["window"] == winner
    holding = [w["id"] for w in await api.get("/api/v1/windows") if w["ticket"] is not None]
    assert holding == [winner]


async def test_many_windows_calling_at_once_never_call_a_ticket_twice(api: Api) -> None:
    for _ in range(3):
        await api.issue("social")
    windows = ("1", "2", "3", "4", "12")
    for window in windows:
        await api.post(f"/api/v1/windows/{window}/open")
    replies = await asyncio.gather(
        *(api.request("POST", f"/api/v1/windows/{w}/call", tick=0) for w in windows)
    )
    assert sorted(r.status for r in replies) == [200, 200, 200, 204, 204]
    called = sorted(r.body["ticket"]["number"] for r in replies if r.status == 200)
    assert called == ["A001", "A002", "A003"]


# ----------------------------------------------------------------- idempotency


async def test_issue_retried_with_the_same_key_gives_one_ticket(api: Api) -> None:
    key = {"Idempotency-Key": "kiosk-1:2026-11-28:0001"}
    first = await api.request("POST", "/api/v1/tickets", json={"theme": "social"}, headers=key)
    second = await api.request("POST", "/api/v1/tickets", json={"theme": "social"}, headers=key)
    assert first.status == second.status == 201
    assert first.body == second.body
    assert first.text == second.text
    assert [t["number"] for t in await api.get("/api/v1/tickets")] == ["A001"]
    # A different key is a different ticket.
    other = await api.post(
        "/api/v1/tickets", {"theme": "social"}, expect=201, headers={"Idempotency-Key": "k2"}
    )
    assert other["number"] == "A002"


async def test_concurrent_retries_with_the_same_key_give_one_ticket(api: Api) -> None:
    key = {"Idempotency-Key": "kiosk-2-burst"}
    replies = await asyncio.gather(
        *(
            api.request("POST", "/api/v1/tickets", json={"theme": "police"}, headers=key, tick=0)
            for _ in range(5)
        )
    )
    assert {r.status for r in replies} == {201}
    assert all(r.body == replies[0].body for r in replies)
    assert replies[0].body["number"] == "B001"
    assert [t["number"] for t in await api.get("/api/v1/tickets")] == ["B001"]
    assert (await api.get("/healthz"))["version"] == 1


async def test_call_retried_with_the_same_key_calls_once(api: Api) -> None:
    await api.issue("social")
    await api.issue("social")
    await api.issue("social")
    await api.post("/api/v1/windows/1/open")
    await api.post("/api/v1/windows/2/open")
    key = {"Idempotency-Key": "pad-1-press-77"}
    first = await api.post("/api/v1/windows/1/call", headers=key)
    second = await api.post("/api/v1/windows/1/call", headers=key)
    assert first == second
    assert first["ticket"]["number"] == "A001"
    waiting = await api.get("/api/v1/tickets?status=waiting")
    assert [t["number"] for t in waiting] == ["A002", "A003"]

    key = {"Idempotency-Key": "pad-2-press-9"}
    replies = await asyncio.gather(
        *(api.request("POST", "/api/v1/windows/2/call", headers=key, tick=0) for _ in range(3))
    )
    assert {r.status for r in replies} == {200}
    assert all(r.body == replies[0].body for r in replies)
    assert replies[0].body["ticket"]["number"] == "A002"
    waiting = await api.get("/api/v1/tickets?status=waiting")
    assert [t["number"] for t in waiting] == ["A003"]


async def test_a_key_reused_for_another_request_is_refused(api: Api) -> None:
    key = {"Idempotency-Key": "reused"}
    await api.post("/api/v1/tickets", {"theme": "social"}, expect=201, headers=key)
    reply = await api.request("POST", "/api/v1/tickets", json={"theme": "police"}, headers=key)
    assert reply.status == 422
    assert reply.body["error"]["code"] == "idempotency_key_reused"
    assert "reused" in reply.body["error"]["message"]
    await api.post("/api/v1/windows/1/open")
    reply = await api.request("POST", "/api/v1/windows/1/call", headers=key)
    assert reply.status == 422
    assert [t["number"] for t in await api.get("/api/v1/tickets")] == ["A001"]
    assert (await api.get("/api/v1/tickets/A001"))["status"] == "waiting"
    for bad_key in ("has space", "x" * 129, ""):
        reply = await api.request(
            "POST",
            "/api/v1/tickets",
            json={"theme": "social"},
            headers={"Idempotency-Key": bad_key},
        )
        assert reply.status == 400, bad_key
        assert "Idempotency-Key" in reply.body["error"]["message"]
    assert [t["number"] for t in await api.get("/api/v1/tickets")] == ["A001"]


async def test_a_retry_after_a_restart_gets_the_first_reply(api: Api) -> None:
    key = {"Idempotency-Key": "kiosk-7-0001"}
    first = await api.request("POST", "/api/v1/tickets", json={"theme": "pickup"}, headers=key)
    assert first.status == 201
    await api.post("/api/v1/windows/11/open")
    call_key = {"Idempotency-Key": "pad-11-0001"}
    call = await api.request("POST", "/api/v1/windows/11/call", headers=call_key)
    await api.restart()
    again = await api.request("POST", "/api/v1/tickets", json={"theme": "pickup"}, headers=key)
    assert (again.status, again.body) == (first.status, first.body)
    call_again = await api.request("POST", "/api/v1/windows/11/call", headers=call_key)
    assert (call_again.status, call_again.body) == (call.status, call.body)
    assert [t["number"] for t in await api.get("/api/v1/tickets")] == ["F001"]
    reply = await api.request("POST", "/api/v1/tickets", json={"theme": "social"}, headers=key)
    assert reply.status == 422


# ----------------------------------------------------------------- restart and days


async def test_state_survives_a_restart(api: Api) -> None:
    await api.issue("social")
    await api.issue("social", priority="elderly")
    await api.issue("police")
    await api.post("/api/v1/windows/1/open")
    await api.post("/api/v1/windows/1/call")
    await api.post("/api/v1/windows/1/start")
    await api.post("/api/v1/windows/5/open")
    await api.post("/api/v1/windows/5/pause", {"reason": "meeting"})
    before = await api.state()
    themes = await api.get("/api/v1/themes")

    await api.restart()
    assert await api.state() == before
    assert await api.get("/api/v1/themes") == themes
    window = await api.get("/api/v1/windows/1")
    assert window["status"] == "serving"
    assert window["ticket"]["number"] == "A002"
    assert (await api.get("/api/v1/windows/5"))["pause_reason"] == "meeting"
    assert (await api.issue("social"))["number"] == "A003"
    assert (await api.issue("police"))["number"] == "B002"
    finished = await api.post("/api/v1/windows/1/finish")
    assert finished["ticket"]["number"] == "A002"


async def test_business_day_rolls_over_at_three(api: Api) -> None:
    await api.issue("social")
    await api.issue("social")
    await api.post("/api/v1/windows/1/open")
    api.clock.now = datetime(2026, 11, 29, 2, 59, 0, tzinfo=SHANGHAI).timestamp()
    late = await api.issue("social")
    assert late["id"] == "20261128-A003"
    assert (await api.get("/healthz"))["day"] == DAY

    api.clock.now = datetime(2026, 11, 29, 3, 0, 1, tzinfo=SHANGHAI).timestamp()
    assert (await api.get("/healthz"))["day"] == "2026-11-29"
    assert await api.get("/api/v1/tickets") == []
    assert await api.get("/api/v1/tickets?status=waiting") == []
    assert all(w["status"] == "closed" for w in await api.get("/api/v1/windows"))
    assert all(t["issued"] == 0 for t in await api.get("/api/v1/themes"))
    await api.error("GET", "/api/v1/tickets/A001", 404)
    await api.error("GET", "/api/v1/tickets/20261128-A001", 404)
    first = await api.issue("social")
    assert (first["id"], first["number"]) == ("20261129-A001", "A001")

    # The new day survives a restart too, and yesterday stays gone.
    await api.restart()
    assert [t["id"] for t in await api.get("/api/v1/tickets")] == ["20261129-A001"]
    assert (await api.issue("social"))["number"] == "A002"


async def test_estimates_follow_the_queue_when_the_wall_clock_steps_back(api: Api) -> None:
    # An NTP correction can move the hall's clock back; the queue must still read right.
    await api.post("/api/v1/windows/1/open")
    for _ in range(3):
        await api.issue("social")
    waiting = await api.get("/api/v1/tickets?status=waiting")
    assert [(t["number"], t["position"]) for t in waiting] == [
        ("A001", 1),
        ("A002", 2),
        ("A003", 3),
    ]
    api.clock.advance(-120)
    await api.post("/api/v1/windows/1/call")
    waiting = await api.get("/api/v1/tickets?status=waiting")
    assert [(t["number"], t["position"], t["ahead"]) for t in waiting] == [
        ("A002", 1, 0),
        ("A003", 2, 1),
    ]
    assert (await api.get("/api/v1/tickets/A002"))["position"] == 1


async def test_an_event_the_log_cannot_hold_stops_the_controller_instead_of_diverging(
    api: Api,
) -> None:
    # A device bridge calling the service directly can pass what the HTTP layer refuses.
    assert api.controller is not None
    service = api.controller.service
    await api.issue("social")
    with pytest.raises(ServiceUnavailable):
        await service.issue_ticket(
            theme="social",
            priority=None,
            id_number=None,
            channel="bridge",
            actor="device:kiosk-9",
            appointment_at=math.inf,
        )
    async with api.session.get(api.url + "/healthz") as resp:
        assert resp.status == 503
        health = await resp.json()
    check_against_openapi("GET", "/healthz", 503, health, True)
    assert health["status"] == "failed"
    assert api.controller.stopped.is_set()
    async with api.session.post(api.url + "/api/v1/tickets", json={"theme": "social"}) as resp:
        assert resp.status == 503
        check_against_openapi("POST", "/api/v1/tickets", 503, await resp.json(), True)

    # After the restart the hall is what the log holds: the refused ticket never existed.
    await api.restart()
    assert [t["number"] for t in await api.get("/api/v1/tickets")] == ["A001"]
    assert (await api.issue("social"))["number"] == "A002"


# ----------------------------------------------------------------- kiosks


async def test_a_kiosk_without_a_printer_gives_a_screen_ticket_with_its_qr_address(
    api: Api,
) -> None:
    kiosks = await api.get("/api/v1/kiosks")
    assert [(k["id"], k["printer"]) for k in kiosks] == [("k1", None), ("k2", None)]
    result = await api.post(
        "/api/v1/kiosks/k1/tickets", {"theme": "social"}, expect=201, headers={"X-Actor": "k1"}
    )
    assert result["printed"] is False
    assert result["reason"] == "this kiosk has no printer"
    ticket = result["ticket"]
    assert ticket["channel"] == "kiosk-screen"
    assert result["qr_url"].startswith(f"http://127.0.0.1:8080/t/{ticket['id']}.")
    link = result["qr_url"].rsplit("/", 1)[1]
    status = await api.get(f"/api/v1/status/{link}")
    assert (status["number"], status["status"], status["ahead"]) == (ticket["number"], "waiting", 0)
    assert "channel" not in status  # the status page learns nothing beyond the ticket itself
    refused = await api.post(f"/api/v1/tickets/{ticket['id']}/reprint", {"kiosk": "k2"}, expect=409)
    assert "cannot print" in refused["error"]["message"]


async def test_kiosk_requests_are_checked(api: Api) -> None:
    missing = await api.post("/api/v1/kiosks/k7/tickets", {"theme": "social"}, expect=404)
    assert missing["error"]["message"] == 'no kiosk "k7"'
    await api.request("GET", "/api/v1/kiosks/k7")
    bad = await api.post(
        "/api/v1/kiosks/k1/tickets", {"theme": "social", "print": "yes"}, expect=422
    )
    assert bad["error"]["details"] == {"field": "print"}
    stale = await api.post(
        "/api/v1/kiosks/k1/tickets", {"theme": "social", "card": "no-such-read"}, expect=422
    )
    assert "read it again" in stale["error"]["message"]
    typo = await api.post("/api/v1/kiosks/k1/tickets", {"theme": "socail"}, expect=422)
    assert 'did you mean "social"' in typo["error"]["message"]


async def test_the_screens_are_served_with_their_files(api: Api) -> None:
    async with api.session.get(api.url + "/") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        assert "/display" in await resp.text()
    async with api.session.get(api.url + "/t/20261128-A001.0000000000000000") as resp:
        assert resp.status == 200  # the page itself says when a link is wrong
        assert resp.content_type == "text/html"
    async with api.session.get(api.url + "/ui/index.html") as resp:
        assert resp.status == 200
    async with api.session.get(api.url + "/ui/../pyproject.toml") as resp:
        assert resp.status in (403, 404)


async def test_a_status_link_is_valid_for_its_own_ticket_only_and_today_only(api: Api) -> None:
    assert api.controller is not None
    service = api.controller.service
    ticket = await api.issue("police")
    link = service.ticket_link(ticket["id"])
    assert service.ticket_for_link(link) == ticket["id"]
    for bad in (ticket["id"], link[:-1] + ("0" if link[-1] != "0" else "1"), "x.y", "."):
        reply = await api.request("GET", f"/api/v1/status/{bad}")
        assert reply.status == 404, bad
    api.clock.advance(24 * 3600)  # the next business day: yesterday's links have ended
    expired = await api.request("GET", f"/api/v1/status/{link}")
    assert expired.status == 404


async def test_a_screen_ticket_s_qr_code_is_an_svg_of_its_status_address(api: Api) -> None:
    assert api.controller is not None
    result = await api.post("/api/v1/kiosks/k1/tickets", {"theme": "social"}, expect=201)
    link = result["qr_url"].rsplit("/", 1)[1]
    async with api.session.get(api.url + f"/api/v1/status/{link}/qr.svg") as resp:
        assert resp.status == 200
        assert resp.content_type == "image/svg+xml"
        svg = await resp.text()
    assert svg.startswith(("<svg", "<?xml"))
    assert "<path" in svg
    wrong = await api.request("GET", f"/api/v1/status/{link[:-1]}x/qr.svg")
    assert wrong.status == 404
