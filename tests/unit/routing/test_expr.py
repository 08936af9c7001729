"""The queue eligibility language: parsing, evaluation against agents, rendering, errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing.expr import (
    MAX_NESTING,
    MAX_TEXT_CHARS,
    AgentFacts,
    Always,
    And,
    Expr,
    ExpressionError,
    HasSkill,
    LanguageCompare,
    LanguageIn,
    Not,
    Or,
    SkillCompare,
    languages_of,
    parse,
    render,
    skills_of,
)


def agent(languages: str = "", /, **skills: int) -> AgentFacts:
    """An agent from a space-separated list of languages and skill=level keywords."""
    return AgentFacts(skills=skills, languages=frozenset(languages.split()))


def matches(text: str, who: AgentFacts) -> bool:
    return parse(text).matches(who)


# --- evaluation, one table per rule -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "who", "expected"),
    [
        ("billing", agent(billing=0), True),
        ("billing", agent(billing=100), True),
        ("billing", agent(sales=80), False),
        ("billing", agent(), False),
        ("vip_care", agent(vip_care=1), True),
        ("tier-2", agent(**{"tier-2": 5}), True),
        ("l2", agent(l2=5), True),
    ],
)
def test_a_bare_skill_means_the_agent_has_it_at_any_level(
    text: str, who: AgentFacts, expected: bool
) -> None:
    assert matches(text, who) is expected


@pytest.mark.parametrize(
    ("text", "level", "expected"),
    [
        ("billing >= 50", 49, False),
        ("billing >= 50", 50, True),
        ("billing >= 50", 51, True),
        ("billing > 50", 50, False),
        ("billing > 50", 51, True),
        ("billing <= 50", 50, True),
        ("billing <= 50", 51, False),
        ("billing < 50", 49, True),
        ("billing < 50", 50, False),
        ("billing == 50", 50, True),
        ("billing == 50", 49, False),
        ("billing != 50", 49, True),
        ("billing != 50", 50, False),
        ("billing >= 0", 0, True),
        ("billing <= 100", 100, True),
    ],
)
def test_a_comparison_tests_the_agents_level(text: str, level: int, expected: bool) -> None:
    assert matches(text, agent(billing=level)) is expected


@pytest.mark.parametrize(
    "text",
    [
        "billing >= 0",
        "billing > 0",
        "billing <= 100",
        "billing < 100",
        "billing == 0",
        "billing != 50",
    ],
)
def test_every_comparison_is_false_for_an_agent_without_the_skill(text: str) -> None:
    assert not matches(text, agent("fr", sales=50))


@pytest.mark.parametrize(
    ("text", "languages", "expected"),
    [
        ('language in ("fr", "en")', "fr", True),
        ('language in ("fr", "en")', "de en", True),
        ('language in ("fr", "en")', "de", False),
        ('language in ("fr", "en")', "", False),
        ("language in ('de')", "de", True),
        ('language == "fr"', "fr de", True),
        ('language == "fr"', "de", False),
        ("language == 'fr'", "fr", True),
        ('language != "fr"', "de", True),
        ('language != "fr"', "", True),
        ('language != "fr"', "fr de", False),
    ],
)
def test_language_refers_to_the_languages_the_agent_speaks(
    text: str, languages: str, expected: bool
) -> None:
    assert matches(text, agent(languages)) is expected


@pytest.mark.parametrize(
    ("text", "who", "expected"),
    [
        ('billing >= 50 and language in ("fr", "en")', agent("en", billing=60), True),
        ('billing >= 50 and language in ("fr", "en")', agent("de", billing=60), False),
        ('billing >= 50 and language in ("fr", "en")', agent("fr", billing=40), False),
        ("(sales or support >= 30) and not trainee", agent(sales=1), True),
        ("(sales or support >= 30) and not trainee", agent(support=30), True),
        ("(sales or support >= 30) and not trainee", agent(support=29), False),
        ("(sales or support >= 30) and not trainee", agent(sales=1, trainee=0), False),
        ('language == "de" and vip_care', agent("de", vip_care=10), True),
        ('language == "de" and vip_care', agent("fr", vip_care=10), False),
        ("true", agent(), True),
        ("true", agent("fr", billing=1), True),
    ],
)
def test_the_documented_examples(text: str, who: AgentFacts, expected: bool) -> None:
    assert matches(text, who) is expected


# --- structure: precedence and grouping ---------------------------------------------------

A, B, C = HasSkill("a"), HasSkill("b"), HasSkill("c")


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a or b and c", Or((A, And((B, C))))),
        ("a and b or c", Or((And((A, B)), C))),
        ("not a and b", And((Not(A), B))),
        ("not a or b", Or((Not(A), B))),
        ("not (a or b)", Not(Or((A, B)))),
        ("(a or b) and c", And((Or((A, B)), C))),
        ("a and b and c", And((A, B, C))),
        ("a and (b and c)", And((A, And((B, C))))),
        ("not not a", Not(Not(A))),
        ("((a))", A),
        ("b >= 5", SkillCompare("b", ">=", 5)),
        ("b>=5", SkillCompare("b", ">=", 5)),
        ("b == 007", SkillCompare("b", "==", 7)),
        ("language in('fr','en')", LanguageIn(("fr", "en"))),
        ("a\n  and\tb", And((A, B))),
        ("  true  ", Always()),
    ],
)
def test_precedence_is_not_then_and_then_or(text: str, tree: Expr) -> None:
    assert parse(text) == tree


@pytest.mark.parametrize(
    ("tree", "text"),
    [
        (Always(), "true"),
        (SkillCompare("billing", "<", 7), "billing < 7"),
        (LanguageIn(("fr", "en")), 'language in ("fr", "en")'),
        (LanguageCompare("!=", "fr"), 'language != "fr"'),
        (Or((A, And((B, C)))), "a or (b and c)"),
        (And((A, And((B, C)))), "a and (b and c)"),
        (Not(Or((A, B))), "not (a or b)"),
        (Not(Not(A)), "not not a"),
    ],
)
def test_render_writes_canonical_text(tree: Expr, text: str) -> None:
    assert render(tree) == text


def test_render_canonicalises_quotes_and_spacing() -> None:
    assert render(parse("language in('fr','en')and(b>=5)")) == (
        'language in ("fr", "en") and b >= 5'
    )


@pytest.mark.parametrize(
    ("text", "skills", "languages"),
    [
        ("true", set(), set()),
        ("billing", {"billing"}, set()),
        (
            '(sales or support >= 30) and not trainee and language in ("fr", "en")',
            {"sales", "support", "trainee"},
            {"fr", "en"},
        ),
        ('not (language == "de" or language != "it") and b < 3', {"b"}, {"de", "it"}),
    ],
)
def test_skills_and_languages_named(text: str, skills: set[str], languages: set[str]) -> None:
    assert skills_of(parse(text)) == skills
    assert languages_of(parse(text)) == languages


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "says"),
    [
        ("", 0, "empty expression"),
        ("   ", 0, "empty expression"),
        ("(billing and sales", 18, 'expected ")" to close the "(" at column 0'),
        ("(a or (b and c)", 15, 'expected ")" to close the "(" at column 0'),
        ("billing and sales)", 17, 'unmatched ")"'),
        ("()", 1, 'expected a skill name, "language", "not" or "(", found ")"'),
        ("billing >=", 10, 'expected a number after ">=", found end of text'),
        ("billing >= and sales", 11, 'expected a number after ">=", found "and"'),
        ('billing == "fr"', 11, 'expected a number after "==", found the string "fr"'),
        ("billing >= 101", 11, "level 101 is outside 0..100"),
        ("billing >= 1000000", 11, "level 1000000 is outside 0..100"),
        ("billing >= -1", 11, 'unexpected character "-"'),
        ("billing => 50", 8, 'unknown operator "=>" (did you mean ">="?)'),
        ("billing = 50", 8, 'unknown operator "=" (did you mean "=="?)'),
        ("billing <> 50", 8, 'unknown operator "<>" (did you mean "!="?)'),
        ("billing >== 50", 8, 'unknown operator ">=="'),
        ("billing >= 50 sales", 14, 'expected "and", "or" or end of text, found "sales"'),
        ("billing sales", 8, 'expected "and", "or" or end of text, found "sales"'),
        ('billing "fr"', 8, 'expected "and", "or" or end of text, found the string "fr"'),
        ('"fr" >= 3', 0, 'expected a skill name, "language", "not" or "(", found the string'),
        ("50", 0, 'expected a skill name, "language", "not" or "(", found the number 50'),
        ("language >= 3", 9, 'expected "in", "==" or "!=" after "language", found ">="'),
        ("language", 8, 'expected "in", "==" or "!=" after "language", found end of text'),
        ('language in "fr"', 12, 'expected "(" after "in", found the string "fr"'),
        ("language in ()", 13, 'expected a quoted language code after "(", found ")"'),
        ("language in (fr)", 13, 'expected a quoted language code after "(", found "fr"'),
        ('language in ("fr" "en")', 18, 'expected "," or ")" in a language list'),
        ('language in ("fr",)', 18, 'expected a quoted language code after ","'),
        ('language == "french"', 12, 'expected a two-letter ISO 639-1 code such as "fr"'),
        ('language == "FR"', 12, 'expected a two-letter ISO 639-1 code such as "fr"'),
        ('language == "fr', 12, "unterminated string"),
        ('billing in ("fr")', 8, 'only "language" takes "in", not "billing"'),
        ("Billing", 0, 'names are lowercase: "Billing"'),
        ("billing AND sales", 8, 'keywords are lowercase: write "and"'),
        ("Not billing", 0, 'keywords are lowercase: write "not"'),
        ("_billing", 0, 'unexpected character "_"'),
        ("billing @ 5", 8, 'unexpected character "@"'),
        ("billing\u00a0and sales", 7, "unexpected character U+00A0"),
        ("and billing", 0, 'expected a skill name, "language", "not" or "(", found "and"'),
        ("billing and", 11, "expected a skill name"),
        ("not", 3, "expected a skill name"),
        ("language and b", 9, 'after "language", found "and"'),
        ("true and billing", 0, '"true" can only be the whole expression'),
        ("not true", 4, '"true" can only be the whole expression'),
        ("(true)", 1, '"true" can only be the whole expression'),
        ("billing true", 8, 'expected "and", "or" or end of text, found "true"'),
    ],
)
def test_mistakes_are_reported_with_their_column(text: str, position: int, says: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    assert says in caught.value.reason
    assert caught.value.position == position
    assert str(caught.value) == f"{caught.value.reason} at column {position}"


def test_an_expression_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="at column 0"):
        parse("")


# --- limits -------------------------------------------------------------------------------


def test_text_up_to_the_length_limit_is_accepted_and_longer_is_refused() -> None:
    longest = " or ".join(["billing"] * 91).ljust(MAX_TEXT_CHARS)
    assert len(longest) == MAX_TEXT_CHARS
    assert skills_of(parse(longest)) == {"billing"}
    with pytest.raises(ExpressionError, match="longer than 1000 characters") as caught:
        parse(longest + " ")
    assert caught.value.position == MAX_TEXT_CHARS


@pytest.mark.parametrize(
    ("opening", "closing"),
    [("(", ")"), ("not ", ""), ("not (", ")")],
)
def test_nesting_up_to_the_limit_is_accepted_and_deeper_is_refused(
    opening: str, closing: str
) -> None:
    levels = MAX_NESTING // (opening.count("(") + opening.count("not"))
    deepest = opening * levels + "billing" + closing * levels
    assert skills_of(parse(deepest)) == {"billing"}
    too_deep = opening * (levels + 1) + "billing" + closing * (levels + 1)
    with pytest.raises(ExpressionError, match=f"nesting deeper than {MAX_NESTING} levels"):
        parse(too_deep)


def test_nesting_counts_levels_open_at_once_not_groups_in_total() -> None:
    side_by_side = " and ".join(["(not billing)"] * MAX_NESTING)
    assert parse(side_by_side) == And((Not(HasSkill("billing")),) * MAX_NESTING)


# --- properties ---------------------------------------------------------------------------

SKILL_NAMES = ("billing", "sales", "support", "vip_care", "tier-2", "l2")
LANGUAGE_CODES = ("fr", "en", "de", "es")
COMPARE_OPS = (">=", ">", "<=", "<", "==", "!=")

skill_names = st.sampled_from(SKILL_NAMES)
language_codes = st.sampled_from(LANGUAGE_CODES)
levels = st.one_of(st.sampled_from((0, 1, 49, 50, 51, 99, 100)), st.integers(0, 100))

leaves: st.SearchStrategy[Expr] = st.one_of(
    st.builds(HasSkill, skill_names),
    st.builds(SkillCompare, skill_names, st.sampled_from(COMPARE_OPS), levels),
    st.builds(LanguageIn, st.lists(language_codes, min_size=1, max_size=3).map(tuple)),
    st.builds(LanguageCompare, st.sampled_from(("==", "!=")), language_codes),
)


def nested(depth: int) -> st.SearchStrategy[Expr]:
    """Trees at most `depth` and/or/not levels deep, so always within the nesting limit."""
    if depth == 0:
        return leaves
    below = nested(depth - 1)
    operands = st.lists(below, min_size=2, max_size=3).map(tuple)
    return st.one_of(
        leaves, st.builds(Not, below), st.builds(And, operands), st.builds(Or, operands)
    )


exprs = nested(5)
whole_exprs = st.one_of(st.just(Always()), exprs)
agents = st.builds(
    AgentFacts,
    skills=st.dictionaries(skill_names | st.sampled_from(("other",)), levels, max_size=4),
    languages=st.frozensets(language_codes | st.just("it"), max_size=3),
)


@given(whole_exprs)
def test_render_parses_back_to_the_same_tree(expr: Expr) -> None:
    assert parse(render(expr)) == expr


@given(whole_exprs, agents)
def test_rendered_text_judges_every_agent_as_the_tree_does(expr: Expr, who: AgentFacts) -> None:
    assert parse(render(expr)).matches(who) == expr.matches(who)


@given(exprs, agents)
def test_not_is_the_negation_on_every_agent(expr: Expr, who: AgentFacts) -> None:
    assert Not(expr).matches(who) is not expr.matches(who)
    assert parse(f"not ({render(expr)})").matches(who) is not expr.matches(who)


@given(whole_exprs, agents)
def test_only_named_skills_and_languages_decide(expr: Expr, who: AgentFacts) -> None:
    named_skills, named_languages = skills_of(expr), languages_of(expr)
    narrowed = AgentFacts(
        skills={name: level for name, level in who.skills.items() if name in named_skills},
        languages=who.languages & named_languages,
    )
    assert expr.matches(narrowed) == expr.matches(who)


def only_expression_errors(text: str) -> Expr | None:
    try:
        return parse(text)
    except ExpressionError as error:
        assert 0 <= error.position <= len(text)
        return None


@given(st.text(max_size=1_100))
def test_any_text_either_parses_or_raises_an_expression_error(text: str) -> None:
    only_expression_errors(text)


VOCABULARY = (
    *("billing", "sales", "Sales", "language", "true", "and", "or", "not", "in", "AND"),
    *("(", ")", ",", ">=", "==", "!=", "<", "=>", "=", "0", "50", "100", "101", "-1"),
    *('"fr"', "'en'", '"french"', '"', "@", "\n"),
)


@given(st.lists(st.sampled_from(VOCABULARY), max_size=40).map(" ".join))
def test_any_token_soup_parses_to_a_renderable_tree_or_raises(text: str) -> None:
    expr = only_expression_errors(text)
    if expr is not None:
        assert parse(render(expr)) == expr


@given(st.integers(1, 3 * MAX_NESTING))
def test_deep_text_raises_rather_than_overflowing(depth: int) -> None:
    expr = only_expression_errors("not (" * depth + "billing" + ")" * depth)
    assert (expr is not None) == (depth * 2 <= MAX_NESTING)
