"""A speaking hall display during an emergency: the message in the edge box's voice (or the
browser's), said at once and again every [announcer] emergency_repeat, no call spoken over it,
and silence about it once it ends; the address that renders it says only the declared message."""

from __future__ import annotations

import io
import wave
from typing import TYPE_CHECKING

import pytest
from playwright.async_api import Page, expect
from test_api import Api
from test_ui_display import FAKE_SPEECH, played, tv_with_autoplay, untouched_display

if TYPE_CHECKING:
    from browser import Screens

pytest_plugins = ["browser"]
pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

MESSAGE = "消防演练，请有序离开大厅"
REPEAT_S = 0.4


class RecordingVoice:
    """The edge box's voice as the composition root hands it over, noting what it renders."""

    def __init__(self) -> None:
        self.rendered: list[str] = []

    async def call_wav(self, number: str, window: str) -> bytes | None:
        self.rendered.append(f"{number} {window}")
        return _silence()

    async def emergency_wav(self, message: str, drill: bool) -> bytes | None:
        self.rendered.append(f"{'演练' if drill else '紧急通知'}：{message}")
        return _silence()


def _silence(seconds: float = 0.2) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(22050)
        wav.writeframes(b"\x00\x00" * int(22050 * seconds))
    return out.getvalue()


async def emergency_audio(api: Api, query: str = "") -> tuple[int, bytes]:
    async with api.session.get(api.url + "/api/v1/voice/emergency.wav" + query) as reply:
        return reply.status, await reply.read()


async def test_the_emergency_is_rendered_only_while_declared_and_only_its_message(
    served_hall: Api,
) -> None:
    assert served_hall.controller is not None
    voice = RecordingVoice()
    served_hall.controller.service.voice = voice
    assert (await emergency_audio(served_hall))[0] == 404
    await served_hall.post("/api/v1/emergency", {"message": MESSAGE, "drill": True})
    status, audio = await emergency_audio(served_hall)
    assert status == 200
    assert audio[:4] == b"RIFF"
    assert voice.rendered == [f"演练：{MESSAGE}"]
    # Nothing a caller sends is rendered: the address takes no text.
    assert (await emergency_audio(served_hall, "?text=anything"))[0] == 422
    assert voice.rendered == [f"演练：{MESSAGE}"]
    await served_hall.request("DELETE", "/api/v1/emergency")
    assert (await emergency_audio(served_hall))[0] == 404
    served_hall.controller.service.voice = None
    await served_hall.post("/api/v1/emergency", {"message": MESSAGE})
    assert (await emergency_audio(served_hall))[0] == 404  # screens use their own voice


async def test_the_real_voice_renders_the_message_as_the_speakers_say_it(
    served_hall: Api,
) -> None:
    await served_hall.post("/api/v1/emergency", {"message": MESSAGE})
    status, audio = await emergency_audio(served_hall)
    assert status == 200  # espeak-ng, in the edge box's Mandarin voice
    with wave.open(io.BytesIO(audio), "rb") as wav:
        assert wav.getnframes() / wav.getframerate() > 1.0  # a sentence, not a click


async def emergency_plays(page: Page) -> int:
    calls = await played(page)
    return calls.count("emergency")


async def test_a_speaking_display_repeats_the_message_and_stops_when_it_ends(
    served_hall: Api,
) -> None:
    assert served_hall.controller is not None
    service = served_hall.controller.service
    voice = RecordingVoice()
    service.voice = voice
    service.emergency_repeat_s = REPEAT_S
    for _ in range(2):
        await served_hall.issue("social")
    await served_hall.post("/api/v1/windows/1/open")
    async with tv_with_autoplay("no-user-gesture-required") as tv:
        page = await untouched_display(served_hall, tv, "?voice=1")
        await served_hall.post("/api/v1/emergency", {"message": MESSAGE, "drill": True})
        await page.wait_for_function("window.played.filter((c) => c === 'emergency').length >= 2")
        await served_hall.post("/api/v1/windows/1/call")  # A001, during the drill
        heard = await emergency_plays(page)
        await page.wait_for_function(
            f"window.played.filter((c) => c === 'emergency').length > {heard}"
        )
        assert "A001 1" not in await played(page)

        await served_hall.request("DELETE", "/api/v1/emergency")
        await expect(page.locator("#emergency")).to_be_hidden()
        await served_hall.post("/api/v1/windows/1/start")
        await served_hall.post("/api/v1/windows/1/call")  # A002, after it
        await page.wait_for_function("window.played.includes('A002 1')")
        heard = await emergency_plays(page)
        await page.wait_for_timeout(3 * REPEAT_S * 1000)
        assert await emergency_plays(page) == heard, "the message is not said after its end"
        assert f"演练：{MESSAGE}" in voice.rendered


async def test_without_the_controllers_voice_the_browser_says_the_message_after_one_tap(
    served_hall: Api, screens: Screens
) -> None:
    assert served_hall.controller is not None
    service = served_hall.controller.service
    service.voice = None
    service.emergency_repeat_s = REPEAT_S
    await served_hall.post("/api/v1/emergency", {"message": MESSAGE})
    page = await untouched_display(served_hall, screens, "?voice=1", FAKE_SPEECH)
    # Chromium's autoplay rule: one tap, on the banner (the page behind it is out of reach).
    sound = page.locator("#emergency-sound")
    await expect(sound).to_be_visible()
    await expect(page.locator("#sound-enable")).to_be_hidden()
    assert await screens.accessibility_problems(page) == []
    await screens.screenshot(page, "display-emergency-sound-off")
    await sound.click()
    await expect(sound).to_be_hidden()
    await page.wait_for_function("window.spoken.length >= 2")
    spoken = await page.evaluate("window.spoken")
    assert spoken[:2] == [[f"紧急通知：{MESSAGE}", "zh-CN", "zh-CN"]] * 2
    await served_hall.request("DELETE", "/api/v1/emergency")
    await expect(page.locator("#emergency")).to_be_hidden()
    said = len(await page.evaluate("window.spoken"))
    await page.wait_for_timeout(3 * REPEAT_S * 1000)
    assert len(await page.evaluate("window.spoken")) == said, "not said after its end"
