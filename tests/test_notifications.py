"""Notices to applicants through a webhook gateway: near the front, called, retried, never
holding up the hall."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from test_api import T0, Api, Clock, running_api

from hall_controller.notifications import NoticeDispatcher, WebhookNotifier
from hall_controller.settings import (
    ConfigError,
    format_issues,
    load_settings,
    validate_settings_text,
)
from hall_controller.transports.backoff import Backoff

from conftest import demo_config_text
from waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

CONTACT = "oWx-synthetic-openid-0001"  # a made-up WeChat openid
TOKEN = "synthetic-gateway-token"


class Gateway:
    """An SMS/WeChat gateway stand-in: records each POST, answers `statuses` then 200."""

    def __init__(self) -> None:
        self.attempts: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []
        self.headers: list[str | None] = []
        self.statuses: list[int] = []
        self.hold: asyncio.Event | None = None  # when set: requests wait for it
        self.holding = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.attempts.append(body)
        self.headers.append(request.headers.get("Authorization"))
        if self.hold is not None:
            self.holding += 1
            await self.hold.wait()
            self.holding -= 1
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            self.delivered.append(body)
        return web.Response(status=status)

    def release(self) -> None:
        if self.hold is not None:
            self.hold.set()


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    gw = Gateway()
    app = web.Application()
    app.router.add_post("/notify", gw.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    gw.url = f"http://127.0.0.1:{port}/notify"
    try:
        yield gw
    finally:
        gw.release()
        await runner.cleanup()


def _config(tmp_path: Path, gateway: Gateway, **extra: str) -> Path:
    (tmp_path / "gateway-token").write_text(TOKEN + "\n", encoding="utf-8")
    lines = [f'webhook_url = "{gateway.url}"', 'token_file = "gateway-token"', "near = 2"]
    lines += [f"{key} = {value}" for key, value in extra.items()]
    path = tmp_path / "hall.toml"
    path.write_text(demo_config_text() + "\n[notifications]\n" + "\n".join(lines) + "\n")
    return path


@contextlib.asynccontextmanager
async def _hall(tmp_path: Path, config: Path | None = None) -> AsyncIterator[Api]:
    path = config
    if path is None:
        path = tmp_path / "hall.toml"
        path.write_text(demo_config_text(), encoding="utf-8")
    async with running_api(load_settings(path), tmp_path / "data", Clock(T0)) as api:
        yield api


async def _serve_next(api: Api) -> dict[str, Any]:
    call: dict[str, Any] = await api.post("/api/v1/windows/1/call")
    await api.post("/api/v1/windows/1/start")
    await api.post("/api/v1/windows/1/finish")
    return call


async def test_near_and_called_notices_each_go_once(tmp_path: Path, gateway: Gateway) -> None:
    async with _hall(tmp_path, _config(tmp_path, gateway)) as api:
        for _ in range(4):
            await api.issue("social")
        mine = await api.issue("social", notify=CONTACT)
        await api.issue("social", notify="oWx-synthetic-openid-0002")  # behind: not near yet
        assert mine["ahead"] == 4
        await api.post("/api/v1/windows/1/open")

        await _serve_next(api)  # 3 ahead: not yet
        await _serve_next(api)  # 2 ahead: near
        await eventually(lambda: gateway.delivered, "the near notice")
        await _serve_next(api)
        await _serve_next(api)  # 0 ahead: still the one near notice
        call = await api.post("/api/v1/windows/1/call")
        assert call["ticket"]["number"] == "A005"
        await eventually(lambda: len(gateway.delivered) >= 3, "the called notice")

    mine_notices = [n for n in gateway.delivered if n["contact"] == CONTACT]
    assert mine_notices == [
        {
            "kind": "near",
            "contact": CONTACT,
            "ticket": "20261128-A005",
            "number": "A005",
            "theme": "social",
            "window": None,
            "ahead": 2,
        },
        {
            "kind": "called",
            "contact": CONTACT,
            "ticket": "20261128-A005",
            "number": "A005",
            "theme": "social",
            "window": "1",
            "ahead": None,
        },
    ]
    # The ticket behind reached 2 ahead when A005 was called; a ticket without contact: nothing.
    assert [(n["number"], n["kind"]) for n in gateway.delivered if n["contact"] != CONTACT] == [
        ("A006", "near")
    ]
    assert set(gateway.headers) == {f"Bearer {TOKEN}"}


async def test_a_failing_gateway_gets_the_notice_after_retries(
    tmp_path: Path, gateway: Gateway
) -> None:
    gateway.statuses = [500, 500]
    async with _hall(tmp_path) as api:
        assert api.controller is not None
        notices = NoticeDispatcher(
            api.controller.service,
            WebhookNotifier(gateway.url, timeout_s=5.0),
            near=2,
            retries=3,
            backoff=lambda: Backoff(initial_s=0.01, cap_s=0.05),
        )
        await notices.start()
        try:
            ticket = await api.issue("social")
            notices.register(ticket["id"], CONTACT)  # first in line: near at once
            await eventually(lambda: gateway.delivered, "the notice after two refusals")
        finally:
            await notices.close()
    assert len(gateway.attempts) == 3
    assert gateway.delivered == [gateway.attempts[0]]
    assert gateway.delivered[0]["kind"] == "near"


async def test_a_notice_is_given_up_after_the_retry_limit(tmp_path: Path, gateway: Gateway) -> None:
    gateway.statuses = [503] * 3
    async with _hall(tmp_path) as api:
        assert api.controller is not None
        notices = NoticeDispatcher(
            api.controller.service,
            WebhookNotifier(gateway.url, timeout_s=5.0),
            retries=2,
            backoff=lambda: Backoff(initial_s=0.01, cap_s=0.05),
        )
        await notices.start()
        try:
            first = await api.issue("social")
            notices.register(first["id"], "oWx-synthetic-openid-0003")
            await eventually(lambda: len(gateway.attempts) == 3, "three attempts")
            second = await api.issue("social")
            notices.register(second["id"], CONTACT)
            await eventually(lambda: gateway.delivered, "the next notice")
        finally:
            await notices.close()
    # Three attempts at the first (1 + 2 retries), then it was dropped; the next went through.
    assert [a["number"] for a in gateway.attempts] == ["A001", "A001", "A001", "A002"]
    assert [d["contact"] for d in gateway.delivered] == [CONTACT]


async def test_a_hanging_gateway_does_not_hold_up_the_call(
    tmp_path: Path, gateway: Gateway
) -> None:
    gateway.hold = asyncio.Event()
    async with _hall(tmp_path, _config(tmp_path, gateway, timeout='"60s"')) as api:
        await api.issue("social", notify=CONTACT)  # first in line: the near notice goes at once
        await eventually(lambda: gateway.holding == 1, "the gateway holding the near notice")

        await api.post("/api/v1/windows/1/open")
        call = await api.post("/api/v1/windows/1/call")  # the reply comes while it hangs
        assert call["ticket"]["number"] == "A001"
        assert gateway.holding == 1
        assert gateway.delivered == []

        gateway.release()
        await eventually(lambda: len(gateway.delivered) == 2, "both notices once released")
    assert [d["kind"] for d in gateway.delivered] == ["near", "called"]


async def test_a_contact_must_be_a_short_opaque_id(tmp_path: Path, gateway: Gateway) -> None:
    async with _hall(tmp_path, _config(tmp_path, gateway)) as api:
        error = await api.error(
            "POST", "/api/v1/tickets", 422, {"theme": "social", "notify": "x" * 65}
        )
        assert error["details"]["field"] == "notify"
        error = await api.error(
            "POST", "/api/v1/tickets", 422, {"theme": "social", "notify": "138 0000 0000"}
        )
        assert "printable ASCII" in error["message"]


def _problems(section: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        validate_settings_text(demo_config_text() + section, "hall.toml")
    return format_issues(caught.value).splitlines()


def test_notifications_settings_and_their_defaults() -> None:
    absent = validate_settings_text(demo_config_text(), "hall.toml")
    assert absent.notifications is None
    text = demo_config_text() + '\n[notifications]\nwebhook_url = "https://gw.example/n"\n'
    settings = validate_settings_text(text, "hall.toml").notifications
    assert settings is not None
    assert (settings.webhook_url, settings.token_file) == ("https://gw.example/n", None)
    assert (settings.near, settings.timeout_s, settings.retries) == (3, 5.0, 5)


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("near = 3", "hall.toml: notifications.webhook_url: missing; expected an "),
        (
            'webhook_url = "ftp://gw.example/n"',
            'hall.toml: notifications.webhook_url: expected an "http://" or "https://" URL',
        ),
        (
            'webhook_url = "https://gw.example"\nnear = -1',
            "hall.toml: notifications.near: expected a number of people ahead from 0 to 50",
        ),
        (
            'webhook_url = "https://gw.example"\ntimeout = "90s"',
            "hall.toml: notifications.timeout: expected a duration from 0.1s to 60s",
        ),
        (
            'webhook_url = "https://gw.example"\nretries = true',
            "hall.toml: notifications.retries: expected a number of retries from 0 to 20",
        ),
        (
            'webhook_url = "https://gw.example"\nretry = 2',
            'hall.toml: notifications.retry: unknown key; did you mean "retries"?',
        ),
    ],
)
def test_notifications_settings_mistakes_are_explained(section: str, expected: str) -> None:
    lines = _problems(f"\n[notifications]\n{section}\n")
    assert len(lines) == 1, lines
    assert lines[0].startswith(expected), lines
