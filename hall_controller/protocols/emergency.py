"""What the hall says and shows in an emergency: the spoken message and the pages of a board.

A manager's emergency (or drill) message is the manager's own words behind a mark: spoken as
"紧急通知：请有序离开大厅" or, for a drill, "演练：请有序离开大厅". It is spoken in one language,
the message's own: a message with Chinese characters in the hall's first Chinese language (zh if
it has none), any other in English when the hall speaks it, else in the hall's first language.
A window board shows the same words (in Chinese) in pages that each fit its width, cut after a
punctuation mark or a space where one falls in the second half of a page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .announcement import CHINESE, Spoken

# The mark spoken before the message, per language.
MARKS = {"zh": "紧急通知", "yue": "紧急通知", "en": "Emergency notice"}
DRILL_MARKS = {"zh": "演练", "yue": "演练", "en": "Drill"}
# Where a page or a module's text is best cut: after one of these.
_BREAKS = frozenset("，。！？；：、,.!?;: \u3000")


def _han(char: str) -> bool:
    """Whether `char` is a Chinese character (CJK unified ideographs and their extensions)."""
    code = ord(char)
    return 0x3400 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0x20000 <= code <= 0x3FFFF


def language_of(message: str, languages: Sequence[str]) -> str:
    """The language `message` is spoken in, given the hall's languages in their order."""
    if any(_han(char) for char in message):
        return next((language for language in languages if language in CHINESE), "zh")
    if "en" in languages:
        return "en"
    return languages[0] if languages else "zh"


def marked(message: str, drill: bool, language: str) -> str:
    """The message behind its mark: "紧急通知：..." / "演练：...", "Emergency notice: ..."."""
    marks = DRILL_MARKS if drill else MARKS
    text = " ".join(message.split())
    if language in CHINESE or language not in marks:
        return f"{marks.get(language, marks['zh'])}：{text}"
    return f"{marks[language]}: {text}"


def spoken(message: str, drill: bool, languages: Sequence[str]) -> Spoken:
    """What the speakers say: the marked message in the message's own language."""
    language = language_of(message, languages)
    return Spoken(language, marked(message, drill, language))


def board_text(message: str, drill: bool) -> str:
    """What a window board shows, page after page: the message behind its Chinese mark."""
    return marked(message, drill, "zh")


def split(text: str, fits: Callable[[str], bool]) -> tuple[str, ...]:
    """`text` cut into pieces that each `fits`, in order; each piece at least one character
    (one that does not fit alone is a piece of its own, for the device to refuse)."""
    rest = " ".join(text.split())
    pieces: list[str] = []
    while rest:
        if fits(rest):
            pieces.append(rest)
            break
        end = 1
        while end < len(rest) and fits(rest[: end + 1]):
            end += 1
        cut = end
        for at in range(end, end // 2, -1):
            if rest[at - 1] in _BREAKS:
                cut = at
                break
        piece = rest[:cut].strip()
        pieces.append(piece or rest[:cut])
        rest = rest[cut:].lstrip()
    return tuple(pieces)
