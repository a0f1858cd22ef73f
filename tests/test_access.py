"""Who may do what: sign-in, sessions, CSRF, lock-outs, and every route walked with every role."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request
from test_api import T0, Api, Clock, running_api
from test_sse import EventStream
from yarl import URL

from hall_controller.access import (
    ACCOUNT_FAILURES,
    SESSIONS_FILE,
    LoginThrottle,
    Principal,
    SignInFailed,
    TooManyAttempts,
)
from hall_controller.services import WINDOW_ACTIONS
from hall_controller.settings import load_settings
from hall_controller.web.access import ACCESS_KEY, allowed_roles
from hall_controller.web.validation import PRINCIPAL_KEY, actor_of

from accounts import AUTH, DEMO_CLERK, DEMO_KIOSK_TOKENS, DEMO_MANAGER, DEMO_TECHNICIAN

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


@pytest.fixture
async def api(demo_config_path: Path, tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(load_settings(demo_config_path), tmp_path / "data", Clock(T0)) as api:
        yield api


TICKET_ACTIONS = ("cancel", "transfer", "return", "rating")


@dataclass
class Browser:
    """One signed-in browser: its session cookie and CSRF token, sent by hand."""

    api: Api
    cookies: dict[str, str] = field(default_factory=dict)
    origin: str | None = None

    async def sign_in(self, body: dict[str, str], expect: int = 200) -> dict[str, Any]:
        status, reply, _ = await self.send("POST", "/api/v1/session", body)
        assert status == expect, reply
        answer: dict[str, Any] = reply
        return answer

    async def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        csrf: bool = True,
        accept: str = "application/json",
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        headers = {"Accept": accept}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            if csrf and "hc_csrf" in self.cookies:
                headers["X-CSRF-Token"] = self.cookies["hc_csrf"]
        if self.origin is not None:
            headers["Origin"] = self.origin
        # A session without the tests' token: the api fixture's own session carries it.
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method,
                self.api.url + path,
                json=body,
                headers=headers,
                allow_redirects=False,
            ) as response,
        ):
            for name, morsel in response.cookies.items():
                if morsel.value:
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
            data = await response.json() if response.content_type == "application/json" else None
            return response.status, data, response


async def signed_in(api: Api, role: str, **where: str) -> Browser:
    browser = Browser(api)
    if role == "kiosk":
        kiosk = where["kiosk"]
        await browser.sign_in({"role": "kiosk", "kiosk": kiosk, "secret": DEMO_KIOSK_TOKENS[kiosk]})
    else:
        people = {"staff": DEMO_CLERK, "manager": DEMO_MANAGER, "technician": DEMO_TECHNICIAN}
        account, secret = people[role]
        await browser.sign_in(dict(role=role, account=account, secret=secret, **where))
    return browser


async def audit(api: Api) -> list[tuple[str, str, dict[str, Any]]]:
    trail = await api.get("/api/v1/audit?limit=1000")
    return [(e["type"], e["actor"], e["data"]) for e in trail["events"]]


# ----------------------------------------------------------------- signing in


async def test_a_clerk_signs_in_at_a_window_and_acts_there_only(api: Api) -> None:
    await api.issue("social")
    await api.issue("social")
    clerk = await signed_in(api, "staff", window="1")
    status, session, _ = await clerk.send("GET", "/api/v1/session")
    assert status == 200
    assert session["account"] == "zhang.min"
    assert session["window"] == "1"
    assert session["roles"] == ["staff"]
    assert session["actor"] == "staff:zhang.min"
    assert (await api.get("/api/v1/windows/1"))["clerk"] == "zhang.min"

    assert (await clerk.send("POST", "/api/v1/windows/1/open"))[0] == 200
    status, called, _ = await clerk.send("POST", "/api/v1/windows/1/call")
    assert status == 200
    status, refused, _ = await clerk.send("POST", "/api/v1/windows/2/open")
    assert status == 403
    assert "staff:zhang.min" in refused["error"]["message"]
    # Another window's ticket is not hers; her own window's ticket is.
    assert (await clerk.send("POST", "/api/v1/tickets/A002/cancel", {"reason": "x"}))[0] == 403
    ticket = called["ticket"]["id"]
    assert (await clerk.send("GET", f"/api/v1/tickets/{ticket}"))[0] == 200
    # Manager-only: the audit trail.
    assert (await clerk.send("GET", "/api/v1/audit"))[0] == 403
    actors = {(kind, actor) for kind, actor, _ in await audit(api)}
    assert ("WindowOpened", "staff:zhang.min") in actors
    assert ("TicketCalled", "staff:zhang.min") in actors


async def test_wrong_secrets_are_refused_alike_and_audited(api: Api) -> None:
    browser = Browser(api)
    wrong_pin = await browser.sign_in(
        {"role": "staff", "account": "zhang.min", "secret": "9", "window": "1"}, 401
    )
    no_account = await browser.sign_in(
        {"role": "staff", "account": "nobody", "secret": "9", "window": "1"}, 401
    )
    # The same words for both: the reply does not tell which accounts exist.
    assert wrong_pin["error"]["message"] == no_account["error"]["message"]
    not_here = await browser.sign_in(
        {"role": "staff", "account": "li.na", "secret": "2222", "window": "1"}, 401
    )
    assert not_here["error"]["code"] == "sign_in_failed"
    kiosk = await browser.sign_in(
        {"role": "kiosk", "kiosk": "k1", "secret": DEMO_KIOSK_TOKENS["k2"]}, 401
    )
    assert "kiosk" in kiosk["error"]["message"]
    refused = [(d["account"], d["reason"]) for t, _, d in await audit(api) if t == "SignInRefused"]
    assert refused == [
        ("zhang.min", "wrong PIN or password"),
        ("nobody", "no such account"),
        ("li.na", "not allowed at window 1"),
        ("k1", "wrong token for kiosk k1"),
    ]
    assert browser.cookies == {}


async def test_repeated_failures_lock_the_account_then_a_correct_pin_works_again(
    api: Api,
) -> None:
    browser = Browser(api)
    account, pin = DEMO_CLERK
    for _ in range(ACCOUNT_FAILURES):
        await browser.sign_in(
            {"role": "staff", "account": account, "secret": "0000", "window": "1"}, 401
        )
    status, body, response = await browser.send(
        "POST",
        "/api/v1/session",
        {"role": "staff", "account": account, "secret": pin, "window": "1"},
    )
    assert status == 429
    assert body["error"]["code"] == "too_many_attempts"
    assert int(response.headers["Retry-After"]) == 30
    api.clock.advance(31)
    await browser.sign_in({"role": "staff", "account": account, "secret": pin, "window": "1"})


async def test_sign_ins_sent_all_at_once_cannot_outrun_the_lock(api: Api) -> None:
    assert api.controller is not None
    access = api.controller.runner.app[ACCESS_KEY]
    account, pin = DEMO_CLERK

    async def attempt(secret: str) -> object:
        return await access.sign_in(
            role="staff", account=account, secret=secret, window="1", kiosk=None, remote="192.0.2.7"
        )

    # Guesses sent together are checked one after another, each against the lock as it stands.
    wrong = [attempt(str(1000 + n)) for n in range(ACCOUNT_FAILURES)]
    results = await asyncio.gather(*wrong, attempt(pin), return_exceptions=True)
    assert all(isinstance(r, SignInFailed) for r in results[:-1]), results
    assert isinstance(results[-1], TooManyAttempts), results[-1]


def test_locks_grow_for_repeat_offenders_and_stay_bounded() -> None:
    throttle = LoginThrottle()
    now = 1000.0
    waits = []
    for _ in range(8):
        for _ in range(ACCOUNT_FAILURES):
            throttle.failed({"account:x": ACCOUNT_FAILURES}, now)
        waits.append(throttle.wait_s(["account:x"], now))
        now += waits[-1] + 1
    assert waits == [30, 60, 120, 240, 480, 900, 900, 900]
    throttle.succeeded("account:x")
    assert throttle.wait_s(["account:x"], now) == 0


async def test_a_session_survives_a_restart_and_ends_when_signed_out(api: Api) -> None:
    manager = await signed_in(api, "manager")
    assert (await manager.send("GET", "/api/v1/audit"))[0] == 200
    await api.restart()
    assert (await manager.send("GET", "/api/v1/audit"))[0] == 200
    assert (await manager.send("DELETE", "/api/v1/session"))[0] == 204
    assert manager.cookies == {}
    # The old cookie, replayed, no longer works.
    assert (await manager.send("GET", "/api/v1/audit"))[0] == 401
    ends = [(a, d["reason"]) for t, a, d in await audit(api) if t == "SignedOut"]
    assert ends == [("manager:wang.li", "signed out")]


async def test_a_session_in_use_survives_a_restart_after_a_quiet_spell(api: Api) -> None:
    manager = await signed_in(api, "manager")
    api.clock.advance(3600)
    assert (await manager.send("GET", "/api/v1/audit"))[0] == 200
    # Two hours since the sign-in, one since the manager's last request: still signed in.
    api.clock.advance(3600 + 60)
    await api.restart()
    assert (await manager.send("GET", "/api/v1/audit"))[0] == 200


async def test_a_clerk_taken_off_a_window_is_signed_out_there(api: Api) -> None:
    clerk = await signed_in(api, "staff", window="1")
    assert (await clerk.send("POST", "/api/v1/windows/1/open"))[0] == 200
    access = api.settings.access
    accounts = tuple(
        dataclasses.replace(a, windows=frozenset({"2", "3"})) if a.id == DEMO_CLERK[0] else a
        for a in access.accounts
    )
    api.settings = dataclasses.replace(
        api.settings, access=dataclasses.replace(access, accounts=accounts)
    )
    await api.restart()
    assert (await clerk.send("POST", "/api/v1/windows/1/pause", {"reason": "x"}))[0] == 401


async def test_a_damaged_sessions_file_signs_everyone_out_and_the_hall_still_starts(
    api: Api,
) -> None:
    manager = await signed_in(api, "manager")
    await api.stop()
    path = api.data_dir / SESSIONS_FILE
    rows = json.loads(path.read_text(encoding="utf-8"))
    rows[0]["expires_at"] = "tomorrow"
    path.write_text(json.dumps(rows), encoding="utf-8")
    await api.start()
    assert (await manager.send("GET", "/api/v1/audit"))[0] == 401
    await signed_in(api, "manager")


async def test_an_idle_session_expires_and_the_end_is_audited(api: Api) -> None:
    technician = await signed_in(api, "technician")
    assert (await technician.send("GET", "/api/v1/devices"))[0] == 200
    api.clock.advance(2 * 3600 + 1)
    status, body, _ = await technician.send("GET", "/api/v1/devices")
    assert status == 401
    assert body["error"]["code"] == "not_signed_in"
    assert api.controller is not None
    access = api.controller.runner.app[ACCESS_KEY]
    assert await access.sweep() == 1
    ends = [(a, d["reason"]) for t, a, d in await audit(api) if t == "SignedOut"]
    assert ends == [("technician:chen.gang", "expired")]


async def test_a_second_clerk_at_a_window_replaces_the_first(api: Api) -> None:
    first = await signed_in(api, "staff", window="5")
    second = Browser(api)
    await second.sign_in({"role": "staff", "account": "li.na", "secret": "2222", "window": "5"})
    assert (await first.send("POST", "/api/v1/windows/5/open"))[0] == 401
    assert (await second.send("POST", "/api/v1/windows/5/open"))[0] == 200
    assert (await api.get("/api/v1/windows/5"))["clerk"] == "li.na"
    ends = [(a, d["reason"]) for t, a, d in await audit(api) if t == "SignedOut"]
    assert ends == [("staff:zhang.min", "replaced")]


async def test_a_kiosk_signs_in_with_its_token_and_stays_signed_in(api: Api) -> None:
    kiosk = await signed_in(api, "kiosk", kiosk="k1")
    assert (await kiosk.send("GET", "/api/v1/session"))[1]["kiosk"] == "k1"
    created = await kiosk.send(
        "POST", "/api/v1/kiosks/k1/tickets", {"theme": "social", "print": False}
    )
    assert created[0] == 201, created[1]
    assert (await kiosk.send("POST", "/api/v1/kiosks/k2/tickets", {"theme": "social"}))[0] == 403
    assert (await kiosk.send("POST", "/api/v1/windows/1/open"))[0] == 403
    issued = [a for t, a, _ in await audit(api) if t == "TicketIssued"]
    assert issued == ["kiosk:k1"]


async def test_the_sign_in_cookies_are_http_only_same_site_and_secure_on_the_box(api: Api) -> None:
    browser = Browser(api)
    account, secret = DEMO_MANAGER
    status, _, response = await browser.send(
        "POST", "/api/v1/session", {"account": account, "secret": secret}
    )
    assert status == 200
    cookies = response.headers.getall("Set-Cookie")
    session = next(c for c in cookies if c.startswith("hc_session="))
    csrf = next(c for c in cookies if c.startswith("hc_csrf="))
    for cookie in (session, csrf):
        assert "SameSite=Strict" in cookie
        assert "Secure" in cookie  # 127.0.0.1: browsers keep Secure cookies from the box itself
        assert "Max-Age" not in cookie  # a person's session ends with the browser
    assert "HttpOnly" in session
    assert "HttpOnly" not in csrf  # the page's script reads it to send it back


# ----------------------------------------------------------------- CSRF and origins


async def test_a_browser_write_needs_its_csrf_token_and_our_origin(api: Api) -> None:
    manager = await signed_in(api, "manager")
    status, body, _ = await manager.send("POST", "/api/v1/windows/1/open", csrf=False)
    assert status == 403
    assert "X-CSRF-Token" in body["error"]["message"]
    manager.origin = "http://evil.example"
    assert (await manager.send("POST", "/api/v1/windows/1/open"))[0] == 403
    manager.origin = str(URL(api.url).origin())
    assert (await manager.send("POST", "/api/v1/windows/1/open"))[0] == 200
    # Reads need no token.
    assert (await manager.send("GET", "/api/v1/audit", csrf=False))[0] == 200


async def test_a_malformed_origin_or_csrf_token_is_refused_not_an_error(api: Api) -> None:
    manager = await signed_in(api, "manager")
    manager.origin = "http://["
    assert (await manager.send("POST", "/api/v1/windows/1/open"))[0] == 403
    manager.origin = None
    manager.cookies["hc_csrf"] = "é" * 32
    assert (await manager.send("POST", "/api/v1/windows/1/open"))[0] == 403


async def test_a_system_token_needs_no_csrf_and_may_name_its_actor(api: Api) -> None:
    await api.post("/api/v1/windows/1/open", headers={"X-Actor": "pad:w1"})
    assert [a for t, a, _ in await audit(api) if t == "WindowOpened"] == ["pad:w1"]
    async with (
        aiohttp.ClientSession() as session,
        session.get(api.url + "/api/v1/audit", headers={"Authorization": "Bearer nope"}) as reply,
    ):
        assert reply.status == 401


async def test_a_browser_session_cannot_claim_another_actor(api: Api) -> None:
    clerk = await signed_in(api, "staff", window="1")
    clerk_headers_actor = "manager:someone-else"
    status, _, _ = await clerk.send("POST", "/api/v1/windows/1/open")
    assert status == 200
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            api.url + "/api/v1/windows/1/pause",
            json={"reason": "break"},
            headers={
                "Cookie": "; ".join(f"{k}={v}" for k, v in clerk.cookies.items()),
                "X-CSRF-Token": clerk.cookies["hc_csrf"],
                "X-Actor": clerk_headers_actor,
            },
        ) as reply,
    ):
        assert reply.status == 200
    assert [a for t, a, _ in await audit(api) if t == "WindowPaused"] == ["staff:zhang.min"]


def test_only_a_system_s_token_may_name_another_actor() -> None:
    nobody = make_mocked_request("POST", "/api/v1/session", headers={"X-Actor": "staff:zhang.min"})
    nobody[PRINCIPAL_KEY] = None
    assert actor_of(nobody) != "staff:zhang.min"
    system = make_mocked_request("POST", "/api/v1/windows/1/open", headers={"X-Actor": "pad:w1"})
    system[PRINCIPAL_KEY] = Principal("bridge", frozenset({"staff"}), via="token")
    assert actor_of(system) == "pad:w1"


async def test_the_public_event_stream_carries_no_sign_ins(api: Api) -> None:
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.get(api.url + "/api/v1/events") as response,
    ):
        stream = EventStream(response)
        first = await stream.next()
        assert first is not None
        assert first.event == "state"
        await Browser(api).sign_in({"account": "no.such.person", "secret": "guess"}, 401)
        await Browser(api).sign_in({"account": DEMO_MANAGER[0], "secret": "guess"}, 401)
        manager = await signed_in(api, "manager")
        await manager.send("DELETE", "/api/v1/session")
        await api.issue("social")
        # Whether an account exists, who signs in and from where is for the audit trail only.
        assert [m.event for m in await stream.until("TicketIssued")] == ["TicketIssued"]
    kinds = [t for t, _, _ in await audit(api)]
    assert kinds.count("SignInRefused") == 2
    assert "SignedIn" in kinds
    assert "SignedOut" in kinds


async def test_a_hall_display_gets_no_actors_reasons_or_alerts_and_staff_get_them_whole(
    api: Api,
) -> None:
    await api.issue("social")
    await api.post("/api/v1/windows/1/open")
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.get(api.url + "/api/v1/events") as public_response,
        api.session.get(api.url + "/api/v1/events") as staff_response,
    ):
        public, staff = EventStream(public_response), EventStream(staff_response)
        for stream in (public, staff):
            assert (await stream.next()) is not None  # the state
        await api.post("/api/v1/tickets/A001/cancel", {"reason": "左脚受伤，家属代办"})
        await api.post("/api/v1/kiosks/k1/help", expect=202)
        await api.post("/api/v1/windows/1/pause", {"reason": "meeting"})
        seen_public = await public.until("WindowPaused")
        seen_staff = await staff.until("WindowPaused")
    assert [m.event for m in seen_public] == ["TicketCancelled", "WindowPaused"]
    assert [m.event for m in seen_staff] == ["TicketCancelled", "HelpRequested", "WindowPaused"]
    for message in seen_public:
        assert "actor" not in message.data
        assert "reason" not in message.data
    cancelled = seen_staff[0].data
    assert (cancelled["reason"], cancelled["actor"]) == ("左脚受伤，家属代办", "token:tests")


async def test_a_page_that_needs_a_sign_in_sends_the_browser_to_the_sign_in_page(
    api: Api,
) -> None:
    browser = Browser(api)
    status, _, response = await browser.send("GET", "/window/3", accept="text/html")
    assert status == 303
    assert response.headers["Location"] == "/login?next=/window/3"
    status, _, _ = await browser.send("GET", "/login", accept="text/html")
    assert status == 200
    # An API call is answered, not redirected.
    assert (await browser.send("GET", "/api/v1/audit"))[0] == 401


# ----------------------------------------------------------------- every route, every role

# What each role must and must not be able to do, written out for the routes that matter most:
# a wrong declaration fails here even if the walk below agrees with it.
MUST: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/api/v1/audit"): frozenset({"manager"}),
    ("POST", "/api/v1/windows/{window}/call"): frozenset({"staff", "manager"}),
    # A kiosk issues at itself only, through its printer (never another channel or an appointment).
    ("POST", "/api/v1/tickets"): frozenset({"staff", "manager"}),
    ("POST", "/api/v1/devices/{device}/learn"): frozenset({"technician"}),
    ("POST", "/api/v1/kiosks/{kiosk}/tickets"): frozenset({"kiosk", "manager"}),
    ("GET", "/api/v1/kiosks/{kiosk}/events"): frozenset({"kiosk", "manager"}),
    ("GET", "/api/v1/events"): frozenset({"public"}),
    ("GET", "/api/v1/status/{link}"): frozenset({"public"}),
    # Poor ratings' follow-ups hold notes of callbacks: the manager's; a case number is
    # recorded at the clerk's own window; only a manager may let a window skip a rating.
    ("GET", "/api/v1/followups"): frozenset({"manager"}),
    ("POST", "/api/v1/followups/{followup}/close"): frozenset({"manager"}),
    ("POST", "/api/v1/followups/{followup}/rating"): frozenset({"manager"}),
    ("POST", "/api/v1/windows/{window}/case-number"): frozenset({"staff", "manager"}),
    ("POST", "/api/v1/windows/{window}/rating-override"): frozenset({"manager"}),
}


@dataclass
class Walker:
    api: Api
    identities: dict[str, Browser | None]
    values: dict[str, str]


@pytest.fixture
async def walker(api: Api) -> Walker:
    issued = await api.issue("social")
    await api.post("/api/v1/windows/1/open")
    await api.post("/api/v1/windows/1/call")
    identities: dict[str, Browser | None] = {
        "nobody": None,
        "kiosk": await signed_in(api, "kiosk", kiosk="k1"),
        "staff": await signed_in(api, "staff", window="1"),
        "manager": await signed_in(api, "manager"),
        "technician": await signed_in(api, "technician"),
    }
    devices = await api.get("/api/v1/devices")
    values = {
        "window": "1",
        "kiosk": "k1",
        "ticket": issued["id"],
        "link": api.controller.service.ticket_link(issued["id"]) if api.controller else "",
        "device": devices[0]["id"] if devices else "none",
        "path": "css/screens.css",
    }
    return Walker(api, identities, values)


def _routes(api: Api) -> list[tuple[str, str, frozenset[str]]]:
    assert api.controller is not None
    found: list[tuple[str, str, frozenset[str]]] = []
    for route in api.controller.runner.app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        canonical = route.resource.canonical
        if canonical.startswith("/ui"):
            roles: frozenset[str] | None = frozenset({"public"})
            canonical += "/{path}"
        else:
            roles = allowed_roles(route.handler)
        assert roles is not None, f"{route.method} {canonical} declares no roles"
        if canonical.endswith("/{action}"):
            actions = WINDOW_ACTIONS if "/windows/" in canonical else TICKET_ACTIONS
            found.extend((route.method, canonical.replace("{action}", a), roles) for a in actions)
        else:
            found.append((route.method, canonical, roles))
    return found


async def _status_of(walker: Walker, who: str, method: str, path: str) -> int:
    url_path = re.sub(r"\{(\w+)\}", lambda m: walker.values.get(m[1], "x"), path)
    browser = walker.identities[who] or Browser(walker.api)
    async with aiohttp.ClientSession() as session:
        headers: dict[str, str] = {"Accept": "application/json"}
        if browser.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
            headers["X-CSRF-Token"] = browser.cookies.get("hc_csrf", "")
        async with session.request(
            method,
            walker.api.url + url_path,
            json={} if method in ("POST", "PUT", "PATCH") else None,
            headers=headers,
            allow_redirects=False,
        ) as response:
            return response.status  # streams are not read: the status is enough


async def test_every_route_answers_each_role_as_it_declares(walker: Walker) -> None:
    routes = _routes(walker.api)
    declared = {(m, p): r for m, p, r in routes}
    for key, roles in MUST.items():
        assert declared.get(key) == roles, f"{key}: declared {declared.get(key)}, must be {roles}"
    problems = []
    for method, path, roles in routes:
        if path == "/api/v1/session" and method != "GET":
            continue  # signing in and out: tested on their own
        for who in walker.identities:
            status = await _status_of(walker, who, method, path)
            allowed = "public" in roles or who in roles
            refused = status in (401, 403)
            if allowed == refused:
                problems.append(f"{who}: {method} {path} -> {status} (allowed: {sorted(roles)})")
            if not allowed and who == "nobody" and status != 401:
                problems.append(f"nobody: {method} {path} -> {status}, expected 401")
    assert not problems, "\n".join(problems)


async def test_staff_and_kiosks_are_held_to_their_own_window_and_kiosk(walker: Walker) -> None:
    walker.values.update(window="2", kiosk="k2")
    assert await _status_of(walker, "staff", "POST", "/api/v1/windows/{window}/call") == 403
    assert await _status_of(walker, "manager", "POST", "/api/v1/windows/{window}/call") != 403
    assert await _status_of(walker, "kiosk", "POST", "/api/v1/kiosks/{kiosk}/tickets") == 403
    assert await _status_of(walker, "kiosk", "GET", "/api/v1/kiosks/{kiosk}/events") == 403
    assert await _status_of(walker, "kiosk", "POST", "/api/v1/tickets") == 403


async def test_every_signed_in_role_can_sign_out(walker: Walker) -> None:
    for who, browser in walker.identities.items():
        if browser is None:
            continue
        assert (await browser.send("DELETE", "/api/v1/session"))[0] == 204, who
    assert (await Browser(walker.api).send("DELETE", "/api/v1/session"))[0] == 401


def test_demo_accounts_in_the_tests_match_the_demo_config(demo_config_path: Path) -> None:
    text = demo_config_path.read_text(encoding="utf-8")
    for account, secret in (DEMO_CLERK, DEMO_MANAGER, DEMO_TECHNICIAN):
        assert f'id = "{account}"' in text
        assert secret in text  # the sign-in hint gives the demo's secrets away, on purpose
    assert AUTH["Authorization"].startswith("Bearer ")
