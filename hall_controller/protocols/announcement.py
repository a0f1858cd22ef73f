"""What an announcer says for a call: the text per language, the recorded clips, the schedule.

A template such as "请 {ticket} 号 到 {window} 号窗口 办理" is filled in per language. The ticket
is read character by character ("A012" -> "A 0 1 2": a speech engine reads "012" as a number),
with "幺" for the digit 1 in Mandarin when the hall asks for it. The window is read as a number
("12" -> 十二, twelve). In the recorded-clip mode the same template is cut into clip names:
"请", "A", "0", "1", "2", "号", "到", "3", "号窗口", "办理".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from typing import Protocol

# Placeholders a template may use; {ticket} is required.
PLACEHOLDERS = ("ticket", "window", "window_name")
# Languages read as Chinese: numbers are composed with 十 and 百, windows named in Chinese.
CHINESE = frozenset({"zh", "yue"})
YAO = "幺"
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class Call(Protocol):
    """The call being announced (devices.model.Announcement fits)."""

    @property
    def ticket(self) -> str: ...

    @property
    def window(self) -> str: ...

    @property
    def window_name_zh(self) -> str: ...

    @property
    def window_name_en(self) -> str: ...


class Wording(Protocol):
    """How the hall words its calls (profiles.AnnouncerSettings fits)."""

    @property
    def templates(self) -> Mapping[str, str]: ...

    @property
    def languages(self) -> tuple[str, ...]: ...

    @property
    def one_as_yao(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Spoken:
    """One language's text for the speech engine."""

    language: str
    text: str


@dataclass(frozen=True, slots=True)
class ClipPlan:
    """One language's recorded clips, in the order they are spliced."""

    language: str
    clips: tuple[str, ...]


# --- templates ------------------------------------------------------------------------------


def template_problems(template: str) -> list[str]:
    """What is wrong with a template (unknown or missing placeholders, stray braces); [] if fine."""
    problems = []
    names = _PLACEHOLDER.findall(template)
    for name in names:
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            problems.append(f"unknown placeholder {{{name}}}; expected {known}")
    if "ticket" not in names:
        problems.append("expected {ticket} in the template")
    rest = _PLACEHOLDER.sub("", template)
    if "{" in rest or "}" in rest:
        problems.append("a brace that opens or closes no placeholder")
    return problems


def wording_problems(wording: Wording) -> list[str]:
    """Every problem with the hall's wording: a language without a template, a bad template."""
    problems = []
    if not wording.languages:
        problems.append("languages: expected at least one language")
    for language in wording.languages:
        template = wording.templates.get(language)
        if template is None:
            problems.append(f"templates: no template for the language {language!r}")
            continue
        problems.extend(f"templates.{language}: {p}" for p in template_problems(template))
    return problems


def _pieces(template: str) -> list[tuple[bool, str]]:
    """The template as (is_placeholder, text) pieces, in order."""
    pieces: list[tuple[bool, str]] = []
    at = 0
    for match in _PLACEHOLDER.finditer(template):
        if match.start() > at:
            pieces.append((False, template[at : match.start()]))
        pieces.append((True, match.group(1)))
        at = match.end()
    if at < len(template):
        pieces.append((False, template[at:]))
    return pieces


def _template(wording: Wording, language: str) -> str:
    template = wording.templates.get(language)
    if template is None:
        raise ValueError(f"no template for the language {language!r}")
    problems = template_problems(template)
    if problems:
        raise ValueError(f"template for {language!r}: {'; '.join(problems)}")
    return template


# --- reading tickets and windows ------------------------------------------------------------


def ticket_characters(ticket: str, language: str, *, one_as_yao: bool) -> tuple[str, ...]:
    """The ticket's characters as read aloud: "A012" -> A, 0, 1, 2 (幺 for 1 in Mandarin)."""
    out = []
    for char in ticket.upper():
        if not char.isalnum():
            continue  # "A-012": the dash is not read
        out.append(YAO if char == "1" and one_as_yao and language == "zh" else char)
    return tuple(out)


def ticket_spoken(ticket: str, language: str, *, one_as_yao: bool) -> str:
    """The ticket for the speech engine: "A012" -> "A 0 1 2"."""
    return " ".join(ticket_characters(ticket, language, one_as_yao=one_as_yao))


def window_spoken(window: str) -> str:
    """A window id for the speech engine: a number as it is (read as a number), else spelled."""
    if window.isascii() and window.isdigit():
        return str(int(window))
    return " ".join(char for char in window.upper() if char.isalnum())


def number_clips(number: int, language: str) -> tuple[str, ...]:
    """A window number as clips: Chinese 12 -> 十, 2; 23 -> 2, 十, 3; English 23 -> 20, 3."""
    if number < 0:
        raise ValueError("a window number is not negative")
    if language in CHINESE:
        return _chinese_number(number)
    if number < 20:
        return (str(number),)
    if number < 100:
        tens, ones = divmod(number, 10)
        return (str(tens * 10),) + ((str(ones),) if ones else ())
    return tuple(str(number))  # beyond 99 a window number is read digit by digit


def _chinese_number(number: int) -> tuple[str, ...]:
    if number < 10:
        return (str(number),)
    if number < 100:
        tens, ones = divmod(number, 10)
        head = ("十",) if tens == 1 else (str(tens), "十")
        return head + ((str(ones),) if ones else ())
    if number < 1000:
        hundreds, rest = divmod(number, 100)
        head = (str(hundreds), "百")
        if rest == 0:
            return head
        if rest < 10:
            return (*head, "零", str(rest))
        tens, ones = divmod(rest, 10)
        return (*head, str(tens), "十") + ((str(ones),) if ones else ())
    return tuple(str(number))


def _window_name(call: Call, language: str) -> str:
    return call.window_name_zh if language in CHINESE else call.window_name_en


# --- what is said ---------------------------------------------------------------------------


def texts(call: Call, wording: Wording) -> tuple[Spoken, ...]:
    """The text of each language spoken, in the hall's order; ValueError for a bad template."""
    out = []
    for language in wording.languages:
        values = {
            "ticket": ticket_spoken(call.ticket, language, one_as_yao=wording.one_as_yao),
            "window": window_spoken(call.window),
            "window_name": _window_name(call, language),
        }
        text = "".join(
            values[piece] if is_name else piece
            for is_name, piece in _pieces(_template(wording, language))
        )
        out.append(Spoken(language, " ".join(text.split())))
    return tuple(out)


def _words(text: str) -> list[str]:
    """Literal template text as clip names: split at spaces, punctuation dropped."""
    words = []
    for raw in text.split():
        word = "".join(c for c in raw if not unicodedata.category(c).startswith("P"))
        if word:
            words.append(word)
    return words


def _window_clips(call: Call, language: str) -> tuple[str, ...]:
    window = call.window
    if window.isascii() and window.isdigit():
        return number_clips(int(window), language)
    return tuple(char for char in window.upper() if char.isalnum())


def clip_plan(call: Call, wording: Wording) -> tuple[ClipPlan, ...]:
    """The recorded clips of each language spoken, from its template; ValueError if bad."""
    out = []
    for language in wording.languages:
        clips: list[str] = []
        for is_name, piece in _pieces(_template(wording, language)):
            if not is_name:
                clips.extend(_words(piece))
            elif piece == "ticket":
                clips.extend(
                    ticket_characters(call.ticket, language, one_as_yao=wording.one_as_yao)
                )
            elif piece == "window":
                clips.extend(_window_clips(call, language))
            else:
                clips.extend(_words(_window_name(call, language)))
        out.append(ClipPlan(language, tuple(clips)))
    return tuple(out)


# --- when and how loud ----------------------------------------------------------------------


def in_quiet_hours(now: time, quiet_hours: tuple[tuple[time, time], ...]) -> bool:
    """Whether hall-local `now` falls in a [start, end) span; a span may cross midnight."""
    for start, end in quiet_hours:
        if start <= end:
            if start <= now < end:
                return True
        elif now >= start or now < end:
            return True
    return False


def volume_at(now: time, schedule: tuple[tuple[time, int], ...]) -> int:
    """The volume in percent at hall-local `now`: the latest entry at or before it, else the
    day's last entry (the evening's setting lasts through the night); 100 with no schedule."""
    if not schedule:
        return 100
    ordered = sorted(schedule)
    current = ordered[-1][1]
    for start, percent in ordered:
        if start <= now:
            current = percent
    return current
