"""The words of an email as an agent reads them: HTML as text, quoted history left out, and the
conversation message made of them (pure; docs/email.md)."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Sequence
from html.parser import HTMLParser

# "On <date>, <someone> wrote:" as common mail programs write it, in the languages the hub's
# customers use most; the quoted history follows it.
_ATTRIBUTION = re.compile(
    r"^\s*(on\s.+\swrote|le\s.+\sa\s+écrit|am\s.+\sschrieb\s.+|el\s.+\sescribió"
    r"|il\s.+\sha\s+scritto|op\s.+\sschreef\s.+|em\s.+\sescreveu)\s*:\s*$",
    re.IGNORECASE,
)
_BLOCK_TAGS = frozenset(
    "p div br li tr table ul ol h1 h2 h3 h4 h5 h6 pre hr dd dt section article header footer"
    .split()
)  # fmt: skip
_SKIPPED_TAGS = frozenset(("script", "style", "head", "title"))


class _HtmlText(HTMLParser):
    """Text of an HTML body: blocks become lines; <blockquote> lines get "> ", like quoted
    text in a plain-text email, so that quote stripping treats both alike."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line: list[str] = []
        self.skipping = 0
        self.quote_depth = 0

    def _break(self) -> None:
        text = " ".join("".join(self.line).split())
        if text:  # blocks in a row (</p><div>) make one line break, not blank lines
            self.lines.append("> " * self.quote_depth + text)
        self.line = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping += 1
        elif tag == "blockquote":
            self._break()
            self.quote_depth += 1
        elif tag in _BLOCK_TAGS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag == "blockquote":
            self._break()
            self.quote_depth = max(0, self.quote_depth - 1)
        elif tag in _BLOCK_TAGS:
            self._break()

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.line.append(data)


def html_to_text(html: str) -> str:
    """The readable text of an HTML body: no tags, scripts or styles; one line per block."""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    parser._break()
    return "\n".join(parser.lines).strip()


def strip_quoted(text: str) -> str:
    """`text` without the quoted history a reply carries below the new words: the trailing
    block of "> " lines and the "On ..., ... wrote:" line introducing it. Quotes with answers
    between them (an inline reply) are kept whole: those answers are the customer's words."""
    lines = text.split("\n")
    end = len(lines)
    while end and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith(">")):
        end -= 1
    if not any(line.lstrip().startswith(">") for line in lines[end:]):
        return text.strip()
    if end and _ATTRIBUTION.match(lines[end - 1]):
        end -= 1
    elif end >= 2 and _ATTRIBUTION.match(f"{lines[end - 2]} {lines[end - 1]}"):
        end -= 2  # the attribution wrapped onto two lines
    kept = "\n".join(lines[:end]).strip()
    return kept or text.strip()  # nothing but quotes: keep them, they are all there is


def clean(text: str) -> str:
    """`text` fit to store: undecodable bytes (kept by the parser as surrogates) replaced,
    NUL removed (PostgreSQL text cannot hold it)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace").replace("\0", "")


def safe_filename(raw: str | None, position: int, content_type: str) -> str:
    """A filename to store and serve: no folders, no control characters, at most 200
    characters; a made-up one (with the type's extension) when there is none."""
    name = clean(raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip()[:200]
    if name in ("", ".", ".."):
        name = f"attachment-{position}{mimetypes.guess_extension(content_type) or ''}"
    return name


def size_label(size_bytes: int) -> str:
    if size_bytes < 1024:
        return f"{size_bytes} B"
    if size_bytes < 1024 * 1024:
        return f"{size_bytes / 1024:.0f} KB"
    return f"{size_bytes / (1024 * 1024):.1f} MB"


def conversation_text(
    text: str,
    *,
    subject: str | None,
    attachments: Sequence[tuple[str, str, int, str]],
    max_chars: int,
) -> str:
    """The conversation message an email becomes: its subject (for the message that opens a
    contact), its words (at most `max_chars`; the whole email is kept apart), and one line
    per attachment (filename, type, size in bytes, where to fetch it)."""
    parts: list[str] = []
    if subject:
        parts.append(f"Subject: {subject}")
    if len(text) > max_chars:
        text = text[:max_chars].rstrip() + "\n[… cut here; the whole email is kept]"
    if text:
        parts.append(text)
    lines = [
        f"[attachment: {name}, {ctype}, {size_label(size)}] {link}".rstrip()
        for name, ctype, size, link in attachments
    ]
    if lines:
        parts.append("\n".join(lines))
    return "\n\n".join(parts) if parts else "(empty email)"
