"""The hall config loader: the demo file loads, and every mistake is reported clearly at once."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from hall_controller.core.model import OpeningPeriod, Policy
from hall_controller.settings import (
    ConfigError,
    ConfigIssue,
    ServerSettings,
    Settings,
    StoreSettings,
    format_issues,
    load_settings,
    validate_settings_text,
)

DEMO = Path(__file__).resolve().parent.parent / "config" / "demo-hall.toml"

# The smallest useful hall: two themes, two windows, no optional sections.
BASE = """\
[hall]
id = "test-hall"
name_zh = "测试大厅"
name_en = "Test hall"
timezone = "Asia/Shanghai"
day_rollover = "03:00"

[[themes]]
id = "social"
name_zh = "社会民生"
name_en = "Social welfare"
prefix = "A"
hours = ["09:00-12:00", "13:30-17:00"]
daily_cap = 400
max_wait = "25m"
default_service = "8m"

[[themes]]
id = "police"
name_zh = "公安专项"
name_en = "Public security"
prefix = "B"
hours = ["09:00-17:00"]
max_wait = "1h30m"
default_service = "90s"

[[windows]]
id = "1"
name_zh = "1号窗口"
name_en = "Window 1"
themes = ["social", "police"]

[[windows]]
id = "2"
name_zh = "2号窗口"
name_en = "Window 2"
themes = ["police"]
"""


def variant(*replacements: tuple[str, str]) -> str:
    """BASE with the first occurrence of each `old` replaced by `new`."""
    text = BASE
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def write(tmp_path: Path, text: str, name: str = "hall.toml") -> Path:
    """Write a config file and return its path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    """The lines a user sees when loading `path` fails."""
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return format_issues(caught.value).splitlines()


def text_problems(text: str) -> list[str]:
    """The lines a user sees when `text` (as file "hall.toml") fails validation."""
    with pytest.raises(ConfigError) as caught:
        validate_settings_text(text, "hall.toml")
    return format_issues(caught.value).splitlines()


# --- the demo hall ------------------------------------------------------------------------------


def test_demo_config_loads_with_the_expected_hall() -> None:
    settings = load_settings(DEMO)
    hall = settings.hall

    assert hall.id == "gz-tianhe-demo"
    assert hall.timezone == "Asia/Shanghai"
    assert [t.id for t in hall.themes] == [
        "social",
        "police",
        "registration",
        "licensing",
        "construction",
        "pickup",
    ]
    assert [t.prefix for t in hall.themes] == ["A", "B", "C", "D", "E", "F"]
    assert len(hall.windows) == 12
    assert [g.id for g in hall.priority_groups] == ["elderly", "disabled", "pregnant", "veteran"]
    elderly = hall.elderly_group()
    assert elderly is not None
    assert elderly.min_age == 60
    assert hall.policy == Policy()
    assert settings.source == DEMO


def test_demo_config_serves_every_theme_and_routes_pickup_and_personalised_windows() -> None:
    hall = load_settings(DEMO).hall

    for theme in hall.themes:
        assert hall.windows_serving(theme.id), theme.id
    assert hall.window("11").themes == ("pickup",)
    assert set(hall.window("12").themes) == {
        "social",
        "police",
        "registration",
        "licensing",
        "construction",
    }
    pickup = hall.theme("pickup")
    assert pickup.max_wait_s == 15 * 60
    assert pickup.default_service_s == 3 * 60


# --- a valid file and its defaults ------------------------------------------------------------


def test_durations_and_times_become_seconds_and_times(tmp_path: Path) -> None:
    hall = load_settings(write(tmp_path, BASE)).hall

    social, police = hall.themes
    assert social.hours == (
        OpeningPeriod(time(9, 0), time(12, 0)),
        OpeningPeriod(time(13, 30), time(17, 0)),
    )
    assert social.max_wait_s == 1500
    assert social.default_service_s == 480
    assert social.daily_cap == 400
    assert police.max_wait_s == 5400
    assert police.default_service_s == 90
    assert police.daily_cap is None
    assert hall.day_rollover == time(3, 0)
    assert hall.window("1").themes == ("social", "police")


def test_optional_sections_take_their_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, BASE))

    assert settings.server == ServerSettings(host="127.0.0.1", port=8080)
    assert settings.store == StoreSettings(synchronous="full", snapshot_every=2000)
    assert settings.hall.policy == Policy()
    assert settings.hall.enforce_opening_hours is True
    assert settings.hall.one_active_ticket_per_person is True
    groups = [(g.id, g.name_zh, g.min_age) for g in settings.hall.priority_groups]
    assert groups == [
        ("elderly", "老年人", 60),
        ("disabled", "残疾人", None),
        ("pregnant", "孕妇", None),
    ]


def test_optional_sections_override_the_defaults() -> None:
    text = (
        BASE
        + """
[server]
host = "0.0.0.0"
port = 9000

[store]
synchronous = "normal"
snapshot_every = 500

[policy]
priority_head_start = "0s"
preference_bonus = "2m"
aging_rate = 2
recall_limit = 0

[[priority_groups]]
id = "veteran"
name_zh = "退役军人"
name_en = "Veteran"
"""
    )
    settings = validate_settings_text(text, "hall.toml")

    assert settings.server == ServerSettings(host="0.0.0.0", port=9000)
    assert settings.store == StoreSettings(synchronous="normal", snapshot_every=500)
    policy = settings.hall.policy
    assert policy.priority_head_start_s == 0
    assert policy.preference_bonus_s == 120
    assert policy.aging_rate == 2.0
    assert policy.recall_limit == 0
    assert policy.priority_streak_limit == Policy().priority_streak_limit
    assert [g.id for g in settings.hall.priority_groups] == ["veteran"]
    assert settings.hall.elderly_group() is None
    assert settings.source == Path("hall.toml")


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings: Settings = load_settings(write(tmp_path, BASE))

    with pytest.raises(AttributeError):
        # Deliberately assigning to a frozen field: the point is that it raises.
        settings.server = ServerSettings()  # type: ignore[misc]


# --- one clear message per mistake --------------------------------------------------------------


def test_misspelt_key_names_file_full_key_path_and_suggestion(tmp_path: Path) -> None:
    text = variant(('prefix = "B"', 'prefx = "B"'))
    path = write(tmp_path, text)

    lines = problems(path)

    assert f'{path}: themes[1].prefx: unknown key; did you mean "prefix"?' in lines
    assert f"{path}: themes[1].prefix: missing; expected 1-2 uppercase letters" in lines


def test_misspelt_section_name_gets_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "\n[polcy]\nrecall_limit = 3\n")

    assert problems(path) == [f'{path}: polcy: unknown key; did you mean "policy"?']


def test_unknown_theme_in_a_window_gets_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, variant(('themes = ["police"]', 'themes = ["police", "socail"]')))

    assert problems(path) == [
        f'{path}: windows[1].themes[1]: unknown theme "socail"; did you mean "social"?'
    ]


def test_unknown_timezone_gets_a_suggestion() -> None:
    lines = text_problems(variant(('"Asia/Shanghai"', '"Asia/Shanghia"')))

    assert lines == [
        'hall.toml: hall.timezone: unknown time zone "Asia/Shanghia"; did you mean "Asia/Shanghai"?'
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            'max_wait = "25m"',
            "max_wait = 25",
            'themes[0].max_wait: expected a duration such as "25m" or "90s", got 25',
            id="duration-as-number",
        ),
        pytest.param(
            'max_wait = "25m"',
            'max_wait = "25 minutes"',
            'themes[0].max_wait: expected a duration such as "25m" or "90s", got "25 minutes"',
            id="duration-in-words",
        ),
        pytest.param(
            'default_service = "8m"',
            'default_service = "0s"',
            'themes[0].default_service: expected a duration greater than zero, got "0s"',
            id="zero-duration",
        ),
        pytest.param(
            'day_rollover = "03:00"',
            'day_rollover = "9am"',
            'hall.day_rollover: expected a time "HH:MM", got "9am"',
            id="time",
        ),
        pytest.param(
            'hours = ["09:00-12:00", "13:30-17:00"]',
            'hours = ["09:00-12:00", "11:30-17:00"]',
            'themes[0].hours: opening periods "09:00-12:00" and "11:30-17:00" overlap',
            id="overlapping-hours",
        ),
        pytest.param(
            'hours = ["09:00-12:00", "13:30-17:00"]',
            'hours = ["12:00-09:00"]',
            "themes[0].hours[0]: expected an opening period that starts before it ends, "
            'got "12:00-09:00"',
            id="backwards-hours",
        ),
        pytest.param(
            'hours = ["09:00-12:00", "13:30-17:00"]',
            'hours = ["9 to 12"]',
            'themes[0].hours[0]: expected an opening period "HH:MM-HH:MM", got "9 to 12"',
            id="malformed-hours",
        ),
        pytest.param(
            'hours = ["09:00-12:00", "13:30-17:00"]',
            "hours = []",
            "themes[0].hours: expected a non-empty array of opening periods",
            id="no-hours",
        ),
        pytest.param(
            'day_rollover = "03:00"',
            'day_rollover = "10:00"',
            'themes[0].hours[0]: opening period "09:00-12:00" spans the day rollover 10:00',
            id="hours-across-rollover",
        ),
        pytest.param(
            'prefix = "B"',
            'prefix = "A"',
            'themes[1].prefix: duplicate prefix "A"; theme "social" (themes[0]) already uses it',
            id="duplicate-prefix",
        ),
        pytest.param(
            'prefix = "A"',
            'prefix = "a1"',
            'themes[0].prefix: expected 1-2 uppercase letters, got "a1"',
            id="bad-prefix",
        ),
        pytest.param(
            'id = "police"',
            'id = "social"',
            'themes[1].id: duplicate theme id "social"; themes[0] has it',
            id="duplicate-theme-id",
        ),
        pytest.param(
            'id = "2"',
            'id = "1"',
            'windows[1].id: duplicate window id "1"; windows[0] has it',
            id="duplicate-window-id",
        ),
        pytest.param(
            'themes = ["police"]',
            'themes = ["police", "police"]',
            'windows[1].themes[1]: theme "police" is listed twice',
            id="theme-listed-twice",
        ),
        pytest.param(
            "daily_cap = 400",
            "daily_cap = true",
            "themes[0].daily_cap: expected a positive whole number of tickets, got true",
            id="bool-as-int",
        ),
        pytest.param(
            "daily_cap = 400",
            "daily_cap = 0",
            "themes[0].daily_cap: expected a positive whole number of tickets, got 0",
            id="zero-cap",
        ),
        pytest.param(
            'name_en = "Window 2"',
            "name_en = 2",
            "windows[1].name_en: expected a non-empty string, got 2",
            id="number-as-string",
        ),
        pytest.param(
            'id = "1"',
            "id = 1",
            'windows[0].id: expected a window id of letters, digits, "_" or "-", such as "1", '
            "got 1",
            id="window-id-as-number",
        ),
        pytest.param(
            'name_en = "Test hall"\n',
            "",
            "hall.name_en: missing; expected a non-empty string",
            id="missing-required-key",
        ),
    ],
)
def test_each_mistake_gives_a_clear_message(old: str, new: str, expected: str) -> None:
    lines = text_problems(variant((old, new)))

    assert any(line.startswith(f"hall.toml: {expected}") for line in lines), lines


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        pytest.param(
            "[server]\nport = true",
            "server.port: expected a port number from 1 to 65535, got true",
            id="bool-port",
        ),
        pytest.param(
            "[server]\nport = 70000",
            "server.port: expected a port number from 1 to 65535, got 70000",
            id="port-range",
        ),
        pytest.param(
            '[store]\nsynchronous = "off"',
            'store.synchronous: expected "full" or "normal", got "off"',
            id="synchronous",
        ),
        pytest.param(
            "[store]\nsnapshot_every = 10",
            "store.snapshot_every: expected a whole number of events, at least 100, got 10",
            id="snapshot-every",
        ),
        pytest.param(
            "[policy]\nrecall_limit = true",
            "policy.recall_limit: expected an integer >= 0, got true",
            id="bool-recall-limit",
        ),
        pytest.param(
            "[policy]\npriority_max_wait_factor = 1.5",
            "policy.priority_max_wait_factor: expected a number greater than 0 and at most 1, "
            "got 1.5",
            id="factor-range",
        ),
        pytest.param(
            "[policy]\naging_rate = 0",
            "policy.aging_rate: expected a number greater than 0, got 0",
            id="aging-rate",
        ),
        pytest.param(
            "[policy]\npriority_head_start_s = 900",
            'policy.priority_head_start_s: unknown key; did you mean "priority_head_start"?',
            id="model-field-name",
        ),
        pytest.param(
            "[hall.extra]\nx = 1",
            "hall.extra: unknown key; expected one of id, name_zh",
            id="unknown-key-without-suggestion",
        ),
        pytest.param(
            '[[priority_groups]]\nid = "a"\nname_zh = "甲"\nname_en = "A"\nmin_age = 60\n'
            '[[priority_groups]]\nid = "b"\nname_zh = "乙"\nname_en = "B"\nmin_age = 65',
            "priority_groups[1].min_age: only one group may have min_age; "
            "priority_groups[0] already has it",
            id="two-age-groups",
        ),
        pytest.param(
            '[[kiosks]]\nid = "k1"\nname_zh = "1号机"\nname_en = "Kiosk 1"\n'
            '[[kiosks]]\nid = "k1"\nname_zh = "2号机"\nname_en = "Kiosk 2"',
            'kiosks[1].id: duplicate kiosk id "k1"; kiosks[0] has it',
            id="duplicate-kiosk",
        ),
        pytest.param(
            '[ticket]\nstatus_url = "hall.example/t/"',
            'ticket.status_url: expected the status page\'s address with "{link}" in it',
            id="ticket-url",
        ),
        pytest.param(
            "[ticket]\nshow_waiting = true",
            'ticket.show_waiting: unknown key; did you mean "show_wait"?',
            id="ticket-key",
        ),
        pytest.param(
            '[announcer]\nlanguages = ["zh", "yue"]',
            'announcer.languages[1]: no template for "yue" (templates: en, zh)',
            id="announcer-language",
        ),
        pytest.param(
            '[announcer.templates]\nzh = "请到窗口"',
            'announcer.templates.zh: expected a text containing "{ticket}"',
            id="announcer-template",
        ),
        pytest.param(
            '[announcer.templates]\nzh = "请 {ticket} 号 到 {counter} 号窗口"',
            "announcer.templates.zh: unknown placeholder {counter}; expected {ticket}, {window}, "
            "{window_name}",
            id="announcer-placeholder",
        ),
        pytest.param(
            '[announcer]\nquiet_hours = ["12:00"]',
            'announcer.quiet_hours[0]: expected an opening period "HH:MM-HH:MM"',
            id="announcer-quiet-hours",
        ),
        pytest.param(
            '[announcer.volume]\n"08:30" = 120',
            "announcer.volume.08:30: expected a volume in percent from 0 to 100, got 120",
            id="announcer-volume",
        ),
        pytest.param(
            '[[priority_groups]]\nid = "a"\nname_zh = "甲"\nname_en = "A"\nmin_age = 0',
            "priority_groups[0].min_age: expected an age in years from 1 to 130, got 0",
            id="age-range",
        ),
    ],
)
def test_each_mistake_in_an_optional_section_gives_a_clear_message(
    section: str, expected: str
) -> None:
    lines = text_problems(BASE + "\n" + section + "\n")

    assert any(line.startswith(f"hall.toml: {expected}") for line in lines), lines


def test_theme_that_no_window_serves_is_an_error() -> None:
    text = variant(
        ('themes = ["social", "police"]', 'themes = ["social"]'),
        ('themes = ["police"]', 'themes = ["social"]'),
    )

    lines = text_problems(text)

    assert lines == [
        'hall.toml: themes[1]: no window serves theme "police"; '
        "add it to the themes of at least one [[windows]] entry"
    ]


def test_a_hall_needs_themes_and_windows() -> None:
    hall_only = BASE.split("[[themes]]")[0]

    assert text_problems(hall_only) == [
        "hall.toml: themes: missing; expected at least one [[themes]] table",
        "hall.toml: windows: missing; expected at least one [[windows]] table",
    ]


def test_several_mistakes_are_all_reported_together(tmp_path: Path) -> None:
    text = variant(
        ('timezone = "Asia/Shanghai"', 'timezone = "Asia/Shanghai"\nport = 8080'),
        ('max_wait = "25m"', "max_wait = 25"),
        ('prefix = "B"', 'prefix = "A"'),
        ('themes = ["police"]', 'themes = ["polise"]'),
    )
    path = write(tmp_path, text)

    lines = problems(path)

    assert len(lines) == 4, lines
    assert all(line.startswith(f"{path}: ") for line in lines)
    assert any("hall.port: unknown key" in line for line in lines)
    assert any("themes[0].max_wait: expected a duration" in line for line in lines)
    assert any('themes[1].prefix: duplicate prefix "A"' in line for line in lines)
    assert any('unknown theme "polise"; did you mean "police"?' in line for line in lines)


def test_a_typo_in_a_reference_does_not_also_report_the_theme_as_unserved() -> None:
    text = variant(
        ('themes = ["social", "police"]', 'themes = ["social"]'),
        ('themes = ["police"]', 'themes = ["polce"]'),
    )

    assert text_problems(text) == [
        'hall.toml: windows[1].themes[0]: unknown theme "polce"; did you mean "police"?'
    ]


def test_a_token_given_to_two_kiosks_or_systems_is_an_error() -> None:
    # A copied token_hash line would let one kiosk or system sign in as another.
    shared = "sha256:" + "ab" * 32
    kiosk = '\n[[kiosks]]\nid = "{}"\nname_zh = "自助机"\nname_en = "Kiosk"\ntoken_hash = "{}"\n'
    system = (
        '\n[[accounts]]\nid = "{}"\nname_zh = "预约系统"\nroles = ["staff"]\ntoken_hash = "{}"\n'
    )
    own = "each kiosk and system has its own (`hall-controller new-token`)"

    two_kiosks = BASE + kiosk.format("k1", shared) + kiosk.format("k2", shared)
    assert text_problems(two_kiosks) == [
        f"hall.toml: kiosks[1].token_hash: the same token as kiosks[0]; {own}"
    ]
    a_kiosk_and_systems = (
        BASE
        + kiosk.format("k1", shared)
        + system.format("booking", "sha256:" + "cd" * 32)
        + system.format("queue-board", shared)
        + system.format("screens", "sha256:" + "cd" * 32)
    )
    assert text_problems(a_kiosk_and_systems) == [
        f'hall.toml: accounts[1].token_hash: the same token as kiosk "k1"; {own}',
        f"hall.toml: accounts[2].token_hash: the same token as accounts[0]; {own}",
    ]


# --- the file itself ------------------------------------------------------------------------------


def test_invalid_toml_syntax_is_one_issue_with_file_and_position(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace('prefix = "A"', 'prefix = "A'))

    lines = problems(path)

    assert len(lines) == 1
    assert lines[0].startswith(f"{path}: invalid TOML: ")
    assert "line 12" in lines[0]


def test_missing_file_is_reported_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"

    assert problems(path) == [f"{path}: cannot read the file: No such file or directory"]


def test_file_saved_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(BASE.encode("utf-8-sig"))

    assert load_settings(path).hall.id == "test-hall"


def test_error_carries_structured_issues_and_prints_them() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_settings_text(variant(('prefix = "A"', 'prefix = "a"')), "cfg.toml")

    issue = ConfigIssue("cfg.toml", "themes[0].prefix", 'expected 1-2 uppercase letters, got "a"')
    assert caught.value.issues == (issue,)
    assert (
        str(caught.value) == 'cfg.toml: themes[0].prefix: expected 1-2 uppercase letters, got "a"'
    )
    assert str(ConfigIssue("cfg.toml", "", "invalid TOML")) == "cfg.toml: invalid TOML"


def test_the_demo_kiosks_ticket_layout_and_announcer_are_read() -> None:
    settings = load_settings(DEMO)
    assert [(k.id, k.name_zh) for k in settings.hall.kiosks] == [
        ("k1", "1号自助取号机"),
        ("k2", "2号自助取号机"),
    ]
    layout = settings.hall.ticket
    assert layout.status_url == "http://127.0.0.1:8080/t/{link}"
    assert layout.footer.splitlines() == ["请留意叫号 过号请重新取号", "请保管好您的号票"]
    announcer = settings.announcer
    assert announcer.languages == ("zh", "en")
    assert announcer.templates["zh"] == "请 {ticket} 号 到 {window} 号窗口 办理"
    assert announcer.quiet_hours == ((time(12, 0), time(13, 30)),)
    assert announcer.volume[0] == (time(8, 30), 80)
    assert announcer.timezone == "Asia/Shanghai"


# --- substitution and the personalised-service post -----------------------------------------------


def test_similar_themes_and_the_personalised_post_are_read() -> None:
    text = variant(
        ('default_service = "90s"\n', 'default_service = "90s"\nsimilar = ["social"]\n'),
        ('themes = ["police"]\n', 'themes = ["police"]\npost = "personalised"\n'),
    )
    hall = validate_settings_text(text, "hall.toml").hall

    assert hall.theme("police").similar == ("social",)
    assert hall.theme("social").similar == ()
    assert hall.window("2").personalised is True
    assert hall.window("1").personalised is False
    demo = load_settings(DEMO).hall
    assert demo.window("12").personalised is True
    assert demo.theme("construction").similar == ("registration", "licensing")


def test_a_similar_theme_that_does_not_exist_is_named_with_a_did_you_mean() -> None:
    text = variant(('default_service = "90s"\n', 'default_service = "90s"\nsimilar = ["socail"]\n'))

    assert text_problems(text) == [
        'hall.toml: themes[1].similar[0]: unknown theme "socail"; did you mean "social"?'
    ]


def test_a_theme_similar_to_itself_and_a_misspelt_post_are_refused() -> None:
    text = variant(
        ('default_service = "90s"\n', 'default_service = "90s"\nsimilar = ["police"]\n'),
        ('themes = ["police"]\n', 'themes = ["police"]\npost = "personalized"\n'),
    )

    lines = text_problems(text)

    assert "hall.toml: themes[1].similar: a theme cannot stand in for itself" in lines
    assert any(line.startswith("hall.toml: windows[1].post: expected") for line in lines), lines
