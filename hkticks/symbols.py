"""Symbol Service: code normalisation and the Stock Connect universe.

:func:`normalise` is the one function every command uses to turn what a user
typed into hkticks' canonical five-digit HK code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from hkticks.errors import UsageError

_FORMS = (
    re.compile(r"^(\d{1,5})$"),  # 700, 0700, 00700
    re.compile(r"^(\d{1,5})\.HK$", re.IGNORECASE),  # 700.HK, 0700.HK, 00700.HK
    re.compile(r"^HK[.:]?(\d{1,5})$", re.IGNORECASE),  # HK.00700, HK:700, HK00700
)


def try_normalise(text: str) -> str | None:
    """The five-digit code for ``text``, or ``None`` if it is not an HK stock code."""
    s = text.strip()
    for form in _FORMS:
        m = form.match(s)
        if m:
            digits = m.group(1)
            if int(digits) == 0:
                return None
            return digits.zfill(5)
    return None


def normalise(text: str) -> str:
    """``700``, ``0700``, ``00700``, ``0700.HK``, ``700.HK``, ``HK.00700`` -> ``00700``.

    Raises :class:`UsageError` naming the bad input for anything else.
    """
    code = try_normalise(text)
    if code is None:
        raise UsageError(
            f"invalid symbol {text!r}: use an HK stock code such as 00700, 700 or 0700.HK"
        )
    return code


def normalise_all(texts: Iterable[str]) -> list[str]:
    """Normalise many symbols, keeping first-seen order and dropping repeats.

    All bad inputs are named in one error.
    """
    seen: dict[str, None] = {}
    bad: list[str] = []
    for text in texts:
        code = try_normalise(text)
        if code is None:
            bad.append(text)
        else:
            seen.setdefault(code, None)
    if bad:
        shown = ", ".join(repr(b) for b in bad[:5]) + (
            f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        )
        raise UsageError(
            f"invalid symbol{'s' if len(bad) > 1 else ''} {shown}: "
            "use HK stock codes such as 00700, 700 or 0700.HK"
        )
    return list(seen)
