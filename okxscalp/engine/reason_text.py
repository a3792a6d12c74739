"""Reasons written when they are read, not when the decision is made.

Every entry carries its reasons in words (the signal's, the sizing's, the TP/SL's), with the
numbers: the journal and the console show them. Formatting a dozen floats costs more than the
decision itself, on the tick → order path; so a decision keeps the values and a function that
writes them, and the text is built by whoever reads it (the journal's writer thread, after the
order is out). Same text, later.
"""

from __future__ import annotations

from collections.abc import Callable

# The text itself, or a function of immutable values that writes it (called on every read).
ReasonText = str | Callable[[], str]


def text_of(reason: ReasonText) -> str:
    return reason if isinstance(reason, str) else reason()
