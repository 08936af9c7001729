"""The catalogue of away reasons (config/reasons.toml): what loads, and errors naming the file
and key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from contactcenter.core.errors import ConfigError
from contactcenter.settings.reasons import (
    DEFAULT_REASONS,
    AwayReason,
    ReasonCatalogue,
    UnknownReason,
    load_reasons,
    parse_reasons,
)
from contactcenter.site_settings import load_settings
from tests.unit.config_files import CONFIG, config_error, copy_shipped, edit_file

PATH = Path("config/reasons.toml")


def parse(text: str) -> ReasonCatalogue:
    return parse_reasons(tomllib.loads(text), PATH)


def problem(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return info.value.message


def test_the_shipped_catalogue_is_the_default_one_in_its_order() -> None:
    shipped = load_reasons(CONFIG)
    assert shipped == DEFAULT_REASONS
    assert shipped.codes == ("break", "lunch", "training", "meeting", "coaching", "personal")
    assert shipped.get("training") == AwayReason("training", "Training", True)
    assert load_settings(CONFIG, {}).reasons == shipped


def test_without_the_file_the_default_catalogue_applies(tmp_path: Path) -> None:
    assert load_reasons(tmp_path) == DEFAULT_REASONS


def test_an_explicitly_empty_list_means_no_reasons() -> None:
    assert parse("reason = []").reasons == ()


def test_labels_are_trimmed_and_the_public_form_keeps_the_order() -> None:
    catalogue = parse(
        '[[reason]]\ncode = "b"\nlabel = " Short break "\nproductive = false\n'
        '[[reason]]\ncode = "a_1"\nlabel = "Admin"\nproductive = true\n'
    )
    assert catalogue.public() == [
        {"code": "b", "label": "Short break", "productive": False},
        {"code": "a_1", "label": "Admin", "productive": True},
    ]


@pytest.mark.parametrize(
    ("entry", "where", "says"),
    [
        ('label = "Break"\nproductive = false', "reason[0].code", "required"),
        ('code = "Break"\nlabel = "B"\nproductive = false', "reason[0].code", "lower-case"),
        ('code = "a b"\nlabel = "B"\nproductive = false', "reason[0].code", "lower-case"),
        (f'code = "{"x" * 41}"\nlabel = "B"\nproductive = false', "reason[0].code", "40"),
        ('code = "missed-offers"\nlabel = "M"\nproductive = false', "reason[0].code", "hub"),
        ('code = "no-console"\nlabel = "M"\nproductive = false', "reason[0].code", "hub"),
        ('code = "b"\nproductive = false', "reason[0].label", "required"),
        ('code = "b"\nlabel = "  "\nproductive = false', "reason[0].label", "non-empty"),
        ('code = "b"\nlabel = "a\\nb"\nproductive = false', "reason[0].label", "one line"),
        (f'code = "b"\nlabel = "{"x" * 61}"\nproductive = false', "reason[0].label", "60"),
        ('code = "b"\nlabel = "B"', "reason[0].productive", "true or false"),
        ('code = "b"\nlabel = "B"\nproductive = "no"', "reason[0].productive", "true or false"),
        ('code = "b"\nlabel = "B"\nproductive = false\ncolour = "red"', "reason[0].colour", ""),
    ],
)
def test_a_bad_entry_is_refused_naming_its_file_and_key(entry: str, where: str, says: str) -> None:
    message = problem(f"[[reason]]\n{entry}\n")
    assert message.startswith(f"{PATH}: {where}:"), message
    assert says in message


def test_a_duplicate_code_is_refused_at_the_second_entry() -> None:
    entry = '[[reason]]\ncode = "break"\nlabel = "Break"\nproductive = false\n'
    message = problem(entry + entry)
    assert message.startswith(f"{PATH}: reason[1].code:") and "duplicate" in message


def test_an_unknown_top_level_key_or_a_bad_list_is_refused() -> None:
    assert problem("reasons = []").startswith(f"{PATH}: reasons: unknown key")
    assert problem('reason = "break"').startswith(f"{PATH}: reason:")
    assert problem("reason = [1]").startswith(f"{PATH}: reason[0]:")


def test_a_problem_in_the_shipped_file_stops_the_settings_loading(tmp_path: Path) -> None:
    for name in ("hub.toml", "queues.toml", "routing.toml", "reasons.toml"):
        copy_shipped(tmp_path, name)
    edit_file(tmp_path / "reasons.toml", 'code = "lunch"', 'code = "break"')
    message = config_error(load_settings, tmp_path, None)
    assert "reasons.toml: reason[1].code" in message and "duplicate" in message


def test_unknown_codes_are_refused_naming_the_catalogue() -> None:
    with pytest.raises(UnknownReason) as info:
        DEFAULT_REASONS.require("nap")
    assert info.value.error_id == "agent.unknown_reason"
    assert info.value.details["reasons"] == list(DEFAULT_REASONS.codes)
    assert DEFAULT_REASONS.require("lunch").label == "Lunch"


@pytest.mark.parametrize(
    ("state", "code", "productive"),
    [
        ("available", None, True),
        ("offline", None, False),
        ("away", None, False),
        ("away", "break", False),
        ("away", "training", True),
        ("away", "missed-offers", False),
    ],
)
def test_which_time_counts_as_productive(state: str, code: str | None, productive: bool) -> None:
    assert DEFAULT_REASONS.productive(state, code) is productive
