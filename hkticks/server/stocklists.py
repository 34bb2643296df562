"""The Stock Connect (southbound) eligible lists, in the exchanges' own shapes.

Pure builders for the answers of the two mainland exchanges' endpoints
described in ``shared/docs/stock-connect-sources.md``: SSE's
``commonQuery.do`` (one JSON object, every row on one page when the page
size allows) and SZSE's ``ShowReport/data`` (a JSON list whose first element
holds ``metadata`` and a 20-row page of ``data``). Each list holds the
universe's stocks whose channels include that exchange; suspended stocks
stay on the lists, as on the real ones.

Like the real SSE list, a few short Chinese names are padded with
full-width spaces (U+3000) that clients must strip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from hkticks.server.simulated_stocks import Stock

SSE_SQL_ID = "COMMON_SSE_JYFW_HGT_XXPL_BDZQQD_L"
SZSE_CATALOG_ID = "SGT_GGTBDQD"
SZSE_PAGE_SIZE = 20
FULL_WIDTH_SPACE = "\u3000"


def sse_name(name_cn: str) -> str:
    """Pad a two-character name (before any ``-W`` style suffix) as SSE does: ``长　和``."""
    base, dash, suffix = name_cn.partition("-")
    if len(base) == 2:
        base = base[0] + FULL_WIDTH_SPACE + base[1]
    return base + dash + suffix


def channel(stocks: Sequence[Stock], name: str) -> list[Stock]:
    """The stocks listed by channel ``name`` ("SH" or "SZ"), by code."""
    return sorted((s for s in stocks if name in s.channels), key=lambda s: s.code)


def sse_answer(
    stocks: Sequence[Stock], date: str, page_no: int = 1, page_size: int = 2000
) -> dict[str, Any]:
    """SSE ``commonQuery.do`` answer for the southbound list (``date``: ``YYYY-MM-DD``)."""
    listed = channel(stocks, "SH")
    page_size = max(1, page_size)
    page_no = max(1, page_no)
    rows = [
        {
            "SECURITY_CODE": s.code,
            "ABBR_CN": sse_name(s.name_cn),
            "ABBR_EN": s.name_en,
            "UPDATE_DATE": date,
            "SECURITY_TYPE": "股票",
            "TRADE_FLAG": "1",
        }
        for s in listed[(page_no - 1) * page_size : page_no * page_size]
    ]
    total = len(listed)
    return {
        "actionErrors": [],
        "actionMessages": [],
        "fieldErrors": {},
        "isPagination": "true",
        "jsonCallBack": None,
        "locale": "zh_CN",
        "pageHelp": {
            "beginPage": page_no,
            "cacheSize": 1,
            "data": rows,
            "endDate": None,
            "endPage": page_no,
            "objectResult": None,
            "pageCount": max(1, math.ceil(total / page_size)),
            "pageNo": page_no,
            "pageSize": page_size,
            "searchDate": None,
            "sort": None,
            "startDate": None,
            "total": total,
        },
        "result": rows,
        "sqlId": SSE_SQL_ID,
        "success": "true",
        "texts": None,
        "type": "",
        "validateCode": "",
    }


def szse_answer(stocks: Sequence[Stock], date: str, page_no: int = 1) -> list[dict[str, Any]]:
    """SZSE ``ShowReport/data`` answer: page ``page_no`` (from 1) of 20 rows.

    A page past the end has no rows, as on the real site.
    """
    listed = channel(stocks, "SZ")
    total = len(listed)
    pages = max(1, math.ceil(total / SZSE_PAGE_SIZE))
    page_no = max(1, page_no)
    start = (page_no - 1) * SZSE_PAGE_SIZE
    rows = [
        {"zqdm": s.code, "zqjc": s.name_cn, "zqywjc": s.name_en}
        for s in listed[start : start + SZSE_PAGE_SIZE]
    ]
    return [
        {
            "metadata": {
                "catalogid": SZSE_CATALOG_ID,
                "name": "港股通标的证券名单",
                "excel": "xlsx",
                "pagetype": "page",
                "pageno": page_no,
                "pagesize": SZSE_PAGE_SIZE,
                "pagecount": pages,
                "recordcount": total,
                "tabkey": "tab1",
                "subname": date,
                "header": "",
                "footer": "",
                "colspan": 3,
                "conditions": [],
                "cols": {"zqdm": "港股代码", "zqjc": "中文简称", "zqywjc": "英文简称"},
            },
            "data": rows,
            "error": None,
        }
    ]
