"""The agents' CSV rows and the command line's name=number options, read and checked with no
database: every bad row named by its line with all its problems, good rows normalised."""

from __future__ import annotations

import io

import pytest

from contactcenter.agents.csv_rows import (
    AgentRow,
    RowError,
    numbers,
    one_time_password,
    parse_agent,
    parse_file,
    split_items,
)
from contactcenter.agents.validation import InvalidAgent, password_problem

KNOWN = frozenset(("support", "billing"))
HEADER = "login,display_name,email,role,teams,skills,languages,capacity,password\n"


def parse(text: str) -> tuple[list[AgentRow], list[RowError]]:
    return parse_file(io.StringIO(text, newline=""), KNOWN)


def test_a_full_row_is_normalised() -> None:
    rows, errors = parse(
        HEADER + "carol,  Carol Diaz ,carol@example.com,supervisor, Support ; Billing EU ,"
        "support=50;billing = 30,en;zh-CN;en,chat=3;voice=1,a-fine-password-7\n"
    )
    assert errors == []
    assert rows == [
        AgentRow(
            line=2,
            login="carol",
            display_name="Carol Diaz",
            email="carol@example.com",
            role="supervisor",
            teams=("Support", "Billing EU"),
            skills={"support": 50, "billing": 30},
            languages=["en", "zh-CN"],
            capacity={"chat": 3, "voice": 1},
            password="a-fine-password-7",
        )
    ]


def test_empty_cells_are_none_so_that_an_update_keeps_them() -> None:
    rows, errors = parse(HEADER + "dan,,,,,,,,\n")
    assert errors == []
    assert rows == [AgentRow(line=2, login="dan")]
    assert rows[0].changes() == {}


def test_only_some_columns_are_needed() -> None:
    rows, errors = parse("login,skills\nerin,support=70\n")
    assert errors == []
    assert rows[0].changes() == {"skills": {"support": 70}}


def test_a_bad_row_is_named_by_its_line_with_every_problem() -> None:
    rows, errors = parse(
        HEADER
        + "good,Good One,,,,,,,\n"
        + "Bad Login,X,not-an-email,boss,,support=500;typo=1,english,"
        + "chat=0;voice=0;sms=0;whatsapp=0;email=0,short\n"
    )
    assert [r.login for r in rows] == ["good"]
    assert len(errors) == 1 and errors[0].line == 3
    reason = errors[0].reason
    for expected in (
        "login: a login is 2 to 64 characters",
        "email: not an email address",
        "role: role must be one of agent, supervisor, admin",
        "skills.support: a level is 0 to 100",
        "languages: 'english' is not a language code",
        "capacity: an agent who can take nothing on any channel",
        "password: password too weak: at least 10 characters",
    ):
        assert expected in reason, reason
    assert str(errors[0]).startswith("line 3: login:")


def test_an_unknown_skill_is_named() -> None:
    _, errors = parse(HEADER + "fay,Fay,,,,sales=40,,,\n")
    assert errors == [RowError(2, "skills.sales: no queue or routing rule uses the skill 'sales'")]


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("support", "skills: 'support' is not name=number (like support=50)"),
        ("support=high", "skills.support: 'high' is not a whole number"),
        ("=5", "skills: '=5' is not name=number (like support=50)"),
    ],
)
def test_skills_must_be_name_equals_number(cell: str, reason: str) -> None:
    _, errors = parse(HEADER + f"gus,Gus,,,,{cell},,,\n")
    assert errors == [RowError(2, reason)]


def test_capacity_names_a_channel_and_a_count() -> None:
    _, errors = parse(HEADER + "hal,Hal,,,,,,fax=2;chat=x,\n")
    assert errors == [RowError(2, "capacity.chat: 'x' is not a whole number")]
    _, errors = parse(HEADER + "hal,Hal,,,,,,fax=2,\n")
    assert "capacity.fax: no channel 'fax'" in errors[0].reason


def test_one_channel_at_0_leaves_the_others_to_their_defaults() -> None:
    rows, errors = parse("login,capacity\njan,voice=0\n")
    assert errors == [] and rows[0].capacity == {"voice": 0}


def test_a_password_containing_the_login_is_refused() -> None:
    _, errors = parse(HEADER + "ivan,Ivan,,,,,,,ivan-rocks-1234\n")
    assert errors == [RowError(2, "password: password too weak: must not contain the login")]


def test_a_login_twice_is_an_error_of_its_second_line() -> None:
    rows, errors = parse(HEADER + "jo,Jo,,,,,,,\nkim,Kim,,,,,,,\njo,Jo Again,,,,,,,\n")
    assert [r.login for r in rows] == ["jo", "kim"]
    assert errors == [RowError(4, "login 'jo' is also on line 2")]


def test_a_row_without_a_login_is_an_error() -> None:
    _, errors = parse(HEADER + ",No Login,,,,,,,\n")
    assert errors == [RowError(2, "login: required")]


def test_more_cells_than_columns_is_an_error() -> None:
    _, errors = parse("login,display_name\nlee,Lee,extra\n")
    assert errors == [RowError(2, "more cells than columns")]


def test_a_bad_header_names_the_columns() -> None:
    rows, errors = parse("login,name,skils\nmo,Mo,\n")
    assert rows == []
    assert errors[0].line == 1
    assert "unknown column 'name'; unknown column 'skils'" in errors[0].reason
    assert "the columns are login, display_name, email" in errors[0].reason
    _, errors = parse("display_name\nMo\n")
    assert errors == [RowError(1, "missing column login")]


def test_an_empty_file_or_a_header_alone_is_an_error() -> None:
    assert parse("")[1] == [RowError(1, "the file is empty")]
    assert parse(HEADER)[1] == [RowError(0, "no agents in the file")]


def test_lines_count_a_quoted_cell_over_two_lines() -> None:
    rows, errors = parse(HEADER + 'ned,"Ned\nSmith",,,,,,,\noz,Oz,,,,,,,\n')
    assert errors == []
    assert [(r.login, r.line) for r in rows] == [("ned", 3), ("oz", 4)]


def test_every_row_is_ticked_for_the_progress_bar() -> None:
    ticks: list[int] = []
    parse_file(io.StringIO(HEADER + "pat,Pat,,,,,,,\nbad login,,,,,,,,\n"), KNOWN,
               lambda: ticks.append(1))  # fmt: skip
    assert len(ticks) == 2


def test_parse_agent_raises_value_error_with_every_problem() -> None:
    with pytest.raises(ValueError, match="email: not an email address; role: role must be"):
        parse_agent({"login": "quinn", "email": "x", "role": "x"}, 7, KNOWN)


def test_numbers_reads_command_line_options() -> None:
    assert numbers(["support=50", " billing = 30 ", "support=60"], "skills") == {
        "support": 60,
        "billing": 30,
    }
    with pytest.raises(InvalidAgent) as caught:
        numbers(["chat:3"], "capacity")
    assert caught.value.details == {"field": "capacity"}
    assert "like chat=3" in caught.value.message


def test_split_items_drops_empty_ones() -> None:
    assert split_items(" a ;; b;") == ["a", "b"]


def test_one_time_passwords_pass_the_checks_and_differ() -> None:
    made = {one_time_password("ab") for _ in range(50)}
    assert len(made) == 50
    assert all(password_problem(p, "ab") is None and len(p) >= 16 for p in made)
