"""Near misses: "did you mean" suggestions, and which field names are safe to repeat.

A name the user typed that is close to a known one (a field of the governance
document, an environment, a registry) gets a suggestion from :mod:`difflib`.
A field name is repeated in a message only when it is *identifier-shaped*: a
letter or ``_``, then letters, digits, ``_`` or ``-``, at most 32 characters in
all.  Such a name is not a secret; anything else found where a field name belongs
(a pasted token, a value on the wrong line) is shown as ``<unprintable>``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

__all__ = ["UNPRINTABLE", "did_you_mean", "field_name", "is_identifier_shaped"]

UNPRINTABLE = "<unprintable>"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,31}")


def is_identifier_shaped(text: object) -> bool:
    return isinstance(text, str) and _IDENTIFIER.fullmatch(text) is not None


def field_name(text: object) -> str:
    """``'text'`` when it is identifier-shaped, else ``<unprintable>``."""
    return f"'{text}'" if is_identifier_shaped(text) else UNPRINTABLE


def did_you_mean(word: object, candidates: Iterable[str], *, quote: bool = False) -> str:
    """`` (did you mean X?)`` naming the candidate closest to ``word``, or ``""`` when none is close.

    ``quote`` puts the suggestion in single quotes (as field names are written).
    """
    if not isinstance(word, str) or not word:
        return ""
    choices = sorted(set(candidates))
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close:
        # A difference of case alone ('Scope', 'PROD-EU') is a near miss too.
        close = [c for c in choices if c.lower() == word.lower()][:1]
    if not close or close[0] == word:
        return ""
    return f" (did you mean '{close[0]}'?)" if quote else f" (did you mean {close[0]}?)"
