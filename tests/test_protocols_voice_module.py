"""SYN6288 / XFS5152 frames: recorded bytes, encodings, the module's answers and its decoder."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hall_controller.protocols import voice_module
from hall_controller.protocols.voice_module import (
    Answer,
    BadFrame,
    CommandDecoder,
    Control,
    Synthesize,
    VoiceModuleCodec,
    VoiceTextError,
)

SYN6288 = VoiceModuleCodec()
XFS5152 = VoiceModuleCodec(checksum=False, encoding="gbk")


def hexes(text: str) -> bytes:
    return bytes.fromhex(text)


def test_recorded_syn6288_frames() -> None:
    # FD | length 00 02 (command + checksum) | 21 status | DE = FD ^ 00 ^ 02 ^ 21
    assert voice_module.status_query(SYN6288) == hexes("FD 00 02 21 DE")
    # stop: FD ^ 00 ^ 02 ^ 02 = FD
    assert voice_module.stop(SYN6288) == hexes("FD 00 02 02 FD")
    # FD | 00 07 | 01 synthesize | 00 GB2312, no music | C4 E3 你 BA C3 好 | A5 XOR
    assert voice_module.synthesize(SYN6288, "你好") == hexes("FD 00 07 01 00 C4 E3 BA C3 A5")


def test_recorded_xfs5152_frame_has_no_checksum() -> None:
    # FD | 00 06 (command + parameter + 4 bytes of text) | 01 | 01 GBK | 你好
    assert voice_module.synthesize(XFS5152, "你好") == hexes("FD 00 06 01 01 C4 E3 BA C3")
    assert voice_module.status_query(XFS5152) == hexes("FD 00 01 21")


def test_a_character_outside_gb2312_goes_as_gbk_when_the_profile_allows_it() -> None:
    frame = voice_module.synthesize(SYN6288, "请A012号到喆窗口")  # 喆 is GBK only
    assert frame[4] == 0x01  # parameter: GBK
    with pytest.raises(VoiceTextError, match="喆"):
        voice_module.synthesize(VoiceModuleCodec(gbk_fallback=False), "喆")


def test_unicode_big5_and_background_music_in_the_parameter_byte() -> None:
    unicode = voice_module.synthesize(VoiceModuleCodec(encoding="unicode", music=3), "号")
    assert unicode[3:7] == hexes("01 1B 53 F7")  # music 3 << 3 | 3 (UTF-16BE), 号 = U+53F7
    big5 = voice_module.synthesize(VoiceModuleCodec(encoding="big5"), "號")
    assert big5[4] == 0x02
    assert big5[5:7] == "號".encode("big5")


def test_a_text_longer_than_the_module_reads_is_refused() -> None:
    with pytest.raises(VoiceTextError, match="at most 200"):
        voice_module.synthesize(SYN6288, "号" * 101)
    with pytest.raises(VoiceTextError, match="empty"):
        voice_module.synthesize(SYN6288, "")


def test_answers_and_noise() -> None:
    assert voice_module.answers(hexes("41 4E 00 4F 45 4A")) == (
        [Answer.RECEIVED, Answer.BUSY, Answer.IDLE, Answer.BAD_FRAME, Answer.READY],
        1,
    )


def test_volume_marks() -> None:
    assert voice_module.volume_tag(50, 16) == "[v8]"
    assert voice_module.volume_tag(100, 10) == "[v10]"
    assert voice_module.volume_tag(150, 16) == "[v16]"
    assert voice_module.volume_tag(0, 16) == "[v0]"


GB2312_TEXT = st.text(alphabet="请号到窗口办理幺零一二三四五六七八九ABC 0123456789[]v", max_size=60)


@given(GB2312_TEXT.filter(bool), st.integers(1, 7), st.booleans(), st.binary(max_size=5))
def test_the_module_decodes_every_frame_however_it_is_split(
    text: str, piece: int, checksum: bool, noise: bytes
) -> None:
    codec = VoiceModuleCodec(checksum=checksum)
    noise = noise.replace(b"\xfd", b"")
    stream = noise + voice_module.synthesize(codec, text) + voice_module.status_query(codec)
    decoder = CommandDecoder(codec)
    found = []
    for start in range(0, len(stream), piece):
        found += decoder.feed(stream[start : start + piece])
    assert found == [Synthesize(text, "gb2312", 0), Control(voice_module.STATUS)]
    assert decoder.skipped == len(noise)


def test_the_module_refuses_a_bad_checksum_an_unknown_command_and_a_short_frame() -> None:
    decoder = CommandDecoder(SYN6288)
    good = voice_module.synthesize(SYN6288, "你好")
    bad_sum = good[:-1] + bytes([good[-1] ^ 0xFF])
    unknown = hexes("FD 00 02 77") + bytes([0xFD ^ 0x02 ^ 0x77])
    items = decoder.feed(bad_sum + unknown)
    assert [type(item) for item in items] == [BadFrame, BadFrame]
    assert isinstance(items[0], BadFrame)
    assert "checksum" in items[0].reason
    assert isinstance(items[1], BadFrame)
    assert "0x77" in items[1].reason
    assert decoder.feed(good[:5]) == []
    short = decoder.flush()
    assert len(short) == 1
    assert isinstance(short[0], BadFrame)
    assert decoder.feed(good) == [Synthesize("你好", "gb2312", 0)]


def test_codec_settings_are_checked() -> None:
    assert VoiceModuleCodec(encoding="utf-8", music=16, max_text=0).validate() == [
        "unknown encoding 'utf-8'",
        "background music is 0 (none) to 15",
        "max_text is 1 to 4096 bytes",
    ]
