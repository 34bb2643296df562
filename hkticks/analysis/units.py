"""Numbers as a trader reads them: prices at the spread table's precision, money and
share counts with their unit in every cell (``HK$4.5M``, ``28.6M sh``), never one unit
for a whole column (where HK$4.5M became ``0.00B``).

Pure text; the exact figures stay in ``--json``/``--csv`` and in alert records.
"""

from __future__ import annotations

from hkticks.hkex import tick_decimals


def price_text(price: float) -> str:
    """``84.00``, ``377.2``, ``0.385``, ``1,234``: the decimals the price's band allows
    (:func:`hkticks.hkex.tick_decimals`), so a price is never shown finer or coarser
    than the exchange quotes it."""
    if price != price:
        return "-"
    return f"{price:,.{tick_decimals(price)}f}"


_UNITS = ((1e3, "K"), (1e6, "M"), (1e9, "B"), (1e12, "T"))


def _scaled(x: float) -> str:
    """Three significant digits and a unit: ``812``, ``45.3K``, ``4.50M``, ``133M``."""
    if abs(x) < 1000:
        return f"{x:,.0f}"
    for i, (div, suffix) in enumerate(_UNITS):
        v = x / div
        if abs(v) >= 1000 and i + 1 < len(_UNITS):
            continue
        digits = 2 if abs(round(v, 2)) < 10 else 1 if abs(round(v, 1)) < 100 else 0
        if abs(round(v, digits)) >= 1000 and i + 1 < len(_UNITS):
            continue  # 999.96K would read 1,000K: 1.00M
        return f"{v:,.{digits}f}{suffix}"
    raise AssertionError("unreachable")  # pragma: no cover


def hkd_text(amount: float) -> str:
    """``HK$812``, ``HK$45.3K``, ``HK$4.50M``, ``HK$11.5B``."""
    if amount != amount:
        return "-"
    return "HK$" + _scaled(amount)


def shares_text(volume: float) -> str:
    """``900``, ``453,200``, ``28.6M``, ``1.25B``: share counts exact below a million,
    then three significant digits and a unit."""
    if volume != volume:
        return "-"
    return f"{volume:,.0f}" if abs(volume) < 1e6 else _scaled(volume)
