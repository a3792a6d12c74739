"""NO_COLOR: Textual's monochrome filter turns red or blue text into a grey barely lighter than the
dark background (colour 237 on 233). Without colour a cell's meaning is in its words and marks
(rows.py always pairs the two), so colour is dropped — and dim with it, unreadable on a dark grey —
keeping bold, italic, underline and reverse for emphasis."""

from __future__ import annotations

from rich.style import Style
from rich.text import Span, Text


def readable_without_color(style: Style) -> Style:
    return Style(bold=style.bold, italic=style.italic, underline=style.underline, reverse=style.reverse)


def _plain_style(style: str | Style) -> Style:
    return readable_without_color(Style.parse(style) if isinstance(style, str) else style)


def text_without_color(text: Text) -> Text:
    """`text` with every colour (and dim) removed from its style and spans."""
    return Text(
        text.plain,
        style=_plain_style(text.style) if text.style else "",
        justify=text.justify,
        overflow=text.overflow,
        no_wrap=text.no_wrap,
        end=text.end,
        spans=[Span(span.start, span.end, _plain_style(span.style)) for span in text.spans],
    )
