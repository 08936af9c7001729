"""The queue eligibility language: which agents may take a queue's contacts.

A queue states its agents with an expression such as
`billing >= 50 and language in ("fr", "en")`. `parse` turns the text into a tree of frozen
nodes, each answering `matches(agent)`; `render` turns a tree back into canonical text. The
parser is hand-written (no `eval`), bounded in text length and nesting, and reports every
mistake as an `ExpressionError` naming what is wrong and the column at fault.

Grammar (EBNF). Keywords are lowercase and reserved: and, or, not, in, language, true.

    expression    = "true" | disjunction ;
    disjunction   = conjunction { "or" conjunction } ;
    conjunction   = negation { "and" negation } ;
    negation      = "not" negation | primary ;
    primary       = "(" disjunction ")" | language_test | skill_test ;
    language_test = "language" ( "in" "(" code { "," code } ")" | ( "==" | "!=" ) code ) ;
    skill_test    = skill [ ( ">=" | ">" | "<=" | "<" | "==" | "!=" ) level ] ;
    skill         = /[a-z][a-z0-9_-]*/ , not a keyword ;
    level         = /[0-9]+/ , valued 0..100 ;
    code          = /"[a-z]{2}"/ | /'[a-z]{2}'/ , an ISO 639-1 code ;

Nesting counts each open "(" and each "not" still applying; spaces, tabs and newlines
separate tokens.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, NoReturn, TypeAlias, assert_never, get_args

MAX_TEXT_CHARS = 1_000
MAX_NESTING = 32
MIN_LEVEL, MAX_LEVEL = 0, 100
KEYWORDS = frozenset({"and", "or", "not", "in", "language", "true"})

CompareOp: TypeAlias = Literal[">=", ">", "<=", "<", "==", "!="]
_OPS: Mapping[str, CompareOp] = {op: op for op in get_args(CompareOp)}
_COMPARE: Mapping[CompareOp, Callable[[int, int], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
_OP_HINTS = {"=>": ">=", "=<": "<=", "=": "==", "<>": "!=", "!": "!="}
_CODE = re.compile(r"[a-z]{2}")


class ExpressionError(ValueError):
    """Text that is not a valid expression: `reason` says what is wrong, `position` where
    (a 0-based offset into the text, which is the column for one-line text)."""

    def __init__(self, reason: str, position: int) -> None:
        super().__init__(f"{reason} at column {position}")
        self.reason = reason
        self.position = position


@dataclass(frozen=True)
class AgentFacts:
    """What eligibility looks at: skill name → level 0..100, and ISO 639-1 codes spoken."""

    skills: Mapping[str, int]
    languages: frozenset[str]


@dataclass(frozen=True)
class Always:
    """`true`: every agent. Only ever the whole expression."""

    def matches(self, agent: AgentFacts) -> bool:
        return True


@dataclass(frozen=True)
class HasSkill:
    """`billing`: the agent has the skill, at any level."""

    skill: str

    def matches(self, agent: AgentFacts) -> bool:
        return self.skill in agent.skills


@dataclass(frozen=True)
class SkillCompare:
    """`billing >= 50`: the agent's level compares as stated; false for an agent without the
    skill, whatever the operator (`!=` included)."""

    skill: str
    op: CompareOp
    level: int

    def matches(self, agent: AgentFacts) -> bool:
        level = agent.skills.get(self.skill)
        return level is not None and _COMPARE[self.op](level, self.level)


@dataclass(frozen=True)
class LanguageIn:
    """`language in ("fr", "en")`: the agent speaks at least one of the (one or more) codes."""

    languages: tuple[str, ...]

    def matches(self, agent: AgentFacts) -> bool:
        return not agent.languages.isdisjoint(self.languages)


@dataclass(frozen=True)
class LanguageCompare:
    """`language == "fr"`: the agent speaks it; `language != "fr"`: the agent does not."""

    op: Literal["==", "!="]
    language: str

    def matches(self, agent: AgentFacts) -> bool:
        return (self.language in agent.languages) == (self.op == "==")


@dataclass(frozen=True)
class Not:
    """`not x`: the agent does not match `x`."""

    operand: Expr

    def matches(self, agent: AgentFacts) -> bool:
        return not self.operand.matches(agent)


@dataclass(frozen=True)
class And:
    """`a and b and ...`: the agent matches every operand (two or more)."""

    operands: tuple[Expr, ...]

    def matches(self, agent: AgentFacts) -> bool:
        return all(operand.matches(agent) for operand in self.operands)


@dataclass(frozen=True)
class Or:
    """`a or b or ...`: the agent matches at least one operand (two or more)."""

    operands: tuple[Expr, ...]

    def matches(self, agent: AgentFacts) -> bool:
        return any(operand.matches(agent) for operand in self.operands)


Expr: TypeAlias = Always | HasSkill | SkillCompare | LanguageIn | LanguageCompare | Not | And | Or


def _walk(expr: Expr) -> Iterator[Expr]:
    yield expr
    if isinstance(expr, Not):
        yield from _walk(expr.operand)
    elif isinstance(expr, And | Or):
        for operand in expr.operands:
            yield from _walk(operand)


def skills_of(expr: Expr) -> frozenset[str]:
    """Every skill `expr` names. Whether an agent matches depends on these skills alone (and
    its languages), but an agent with none of them may still match, as with `not trainee`."""
    names = (node.skill for node in _walk(expr) if isinstance(node, HasSkill | SkillCompare))
    return frozenset(names)


def languages_of(expr: Expr) -> frozenset[str]:
    """Every language `expr` names; the caveat of `skills_of` holds too (`language != "fr"`)."""
    codes: set[str] = set()
    for node in _walk(expr):
        if isinstance(node, LanguageIn):
            codes.update(node.languages)
        elif isinstance(node, LanguageCompare):
            codes.add(node.language)
    return frozenset(codes)


def render(expr: Expr) -> str:
    """Canonical text of `expr`: single spaces, double quotes, and parentheses around every
    `and`/`or` operand of `and`, `or` and `not`. `parse(render(e)) == e` for every tree that
    keeps to the grammar (as every tree from `parse` does) and nests at most `MAX_NESTING`."""
    match expr:
        case Always():
            return "true"
        case HasSkill():
            return expr.skill
        case SkillCompare():
            return f"{expr.skill} {expr.op} {expr.level}"
        case LanguageIn():
            return "language in (" + ", ".join(f'"{code}"' for code in expr.languages) + ")"
        case LanguageCompare():
            return f'language {expr.op} "{expr.language}"'
        case Not():
            return "not " + _operand(expr.operand)
        case And():
            return " and ".join(map(_operand, expr.operands))
        case Or():
            return " or ".join(map(_operand, expr.operands))
        case _:
            assert_never(expr)


def _operand(expr: Expr) -> str:
    return f"({render(expr)})" if isinstance(expr, And | Or) else render(expr)


def parse(text: str) -> Expr:
    """The tree for `text`; an `ExpressionError`, and never another exception, for text
    outside the grammar, longer than `MAX_TEXT_CHARS` or nesting deeper than `MAX_NESTING`."""
    if len(text) > MAX_TEXT_CHARS:
        raise ExpressionError(f"expression longer than {MAX_TEXT_CHARS} characters", MAX_TEXT_CHARS)
    return _Parser(_tokenize(text)).expression()


@dataclass(frozen=True)
class _Token:
    kind: str  # "name", "number", "string", "op", "end", or the punctuation itself
    text: str  # as written, quotes included
    position: int


_DIGITS = frozenset("0123456789")
_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-") | _DIGITS
_OP_CHARS = frozenset("<>=!")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    at = 0
    while at < len(text):
        start, char = at, text[at]
        if char in " \t\r\n":
            at += 1
            continue
        if char in "(),":
            kind, at = char, at + 1
        elif char in "\"'":
            kind, at = "string", text.find(char, start + 1) + 1
            if at == 0:
                raise ExpressionError("unterminated string", start)
        elif char in _OP_CHARS:
            kind, at = "op", _scan(text, at, _OP_CHARS)
        elif char in _DIGITS:
            kind, at = "number", _scan(text, at, _DIGITS)
        elif char.isascii() and char.isalpha():
            kind, at = "name", _scan(text, at, _WORD)
        else:
            shown = f'"{char}"' if char.isprintable() else f"U+{ord(char):04X}"
            raise ExpressionError(f"unexpected character {shown}", start)
        tokens.append(_checked(_Token(kind, text[start:at], start)))
    return [*tokens, _Token("end", "", len(text))]


def _scan(text: str, at: int, chars: frozenset[str]) -> int:
    while at < len(text) and text[at] in chars:
        at += 1
    return at


def _checked(token: _Token) -> _Token:
    word, position = token.text, token.position
    if token.kind == "name" and word != word.lower():
        if word.lower() in KEYWORDS:
            raise ExpressionError(f'keywords are lowercase: write "{word.lower()}"', position)
        raise ExpressionError(f'names are lowercase: "{word}"', position)
    if token.kind == "op" and word not in _OPS:
        hint = f' (did you mean "{_OP_HINTS[word]}"?)' if word in _OP_HINTS else ""
        raise ExpressionError(f'unknown operator "{word}"{hint}', position)
    return token


def _unexpected(expected: str, token: _Token) -> NoReturn:
    if token.kind == "end":
        found = "end of text"
    elif token.kind in ("string", "number"):
        found = f"the {token.kind} {token.text}"
    else:
        found = f'"{token.text}"'
    raise ExpressionError(f"expected {expected}, found {found}", token.position)


class _Parser:
    """Recursive descent over the tokens, one method per grammar rule."""

    def __init__(self, tokens: list[_Token]) -> None:
        self._tokens = tokens
        self._at = 0
        self._depth = 0

    def _peek(self) -> _Token:
        return self._tokens[self._at]

    def _at_word(self, word: str) -> bool:
        token = self._peek()
        return token.kind == "name" and token.text == word

    def _next(self) -> _Token:
        token = self._tokens[self._at]
        self._at += token.kind != "end"
        return token

    def _enter(self, token: _Token) -> None:
        """Open one nesting level (a "(" or a "not"); the caller closes it once parsed."""
        self._depth += 1
        if self._depth > MAX_NESTING:
            raise ExpressionError(f"nesting deeper than {MAX_NESTING} levels", token.position)

    def expression(self) -> Expr:
        if self._tokens[0].kind == "end":
            raise ExpressionError("empty expression", 0)
        if self._at_word("true") and self._tokens[1].kind == "end":
            return Always()
        expr = self._disjunction()
        token = self._next()
        if token.kind == ")":
            raise ExpressionError('unmatched ")"', token.position)
        if token.kind != "end":
            _unexpected('"and", "or" or end of text', token)
        return expr

    def _disjunction(self) -> Expr:
        operands = [self._conjunction()]
        while self._at_word("or"):
            self._next()
            operands.append(self._conjunction())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def _conjunction(self) -> Expr:
        operands = [self._negation()]
        while self._at_word("and"):
            self._next()
            operands.append(self._negation())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def _negation(self) -> Expr:
        if not self._at_word("not"):
            return self._primary()
        self._enter(self._next())
        operand = self._negation()
        self._depth -= 1
        return Not(operand)

    def _primary(self) -> Expr:
        token = self._next()
        if token.kind == "(":
            self._enter(token)
            inner = self._disjunction()
            if (close := self._next()).kind != ")":
                _unexpected(f'")" to close the "(" at column {token.position}', close)
            self._depth -= 1
            return inner
        if (token.kind, token.text) == ("name", "language"):
            return self._language_test()
        if (token.kind, token.text) == ("name", "true"):
            raise ExpressionError('"true" can only be the whole expression', token.position)
        if token.kind != "name" or token.text in KEYWORDS:
            _unexpected('a skill name, "language", "not" or "("', token)
        if self._at_word("in"):
            where = self._peek().position
            raise ExpressionError(f'only "language" takes "in", not "{token.text}"', where)
        if self._peek().kind != "op":
            return HasSkill(token.text)
        op = self._next()
        if (number := self._next()).kind != "number":
            _unexpected(f'a number after "{op.text}"', number)
        if not MIN_LEVEL <= int(number.text) <= MAX_LEVEL:
            outside = f"level {number.text} is outside {MIN_LEVEL}..{MAX_LEVEL}"
            raise ExpressionError(outside, number.position)
        return SkillCompare(token.text, _OPS[op.text], int(number.text))

    def _language_test(self) -> Expr:
        token = self._next()
        if (token.kind, token.text) == ("name", "in"):
            if (opening := self._next()).kind != "(":
                _unexpected('"(" after "in"', opening)
            codes = [self._code(opening)]
            while (after := self._next()).kind == ",":
                codes.append(self._code(after))
            if after.kind != ")":
                _unexpected('"," or ")" in a language list', after)
            return LanguageIn(tuple(codes))
        if token.kind == "op" and token.text in ("==", "!="):
            return LanguageCompare("==" if token.text == "==" else "!=", self._code(token))
        _unexpected('"in", "==" or "!=" after "language"', token)

    def _code(self, after: _Token) -> str:
        token = self._next()
        if token.kind != "string":
            _unexpected(f'a quoted language code after "{after.text}"', token)
        if not _CODE.fullmatch(code := token.text[1:-1]):
            _unexpected('a two-letter ISO 639-1 code such as "fr"', token)
        return code
