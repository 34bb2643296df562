"""Answers exactly as AllTick's documentation prints them, shared by the tests that hold the
client (and the board) to the documented shapes rather than to our own server's."""

from __future__ import annotations

# static_query.md (GET /static_info): the documented entry of 700.HK, every value a string
STATIC_700 = {
    "board": "HKEquity",
    "bps": "101.7577888985738336",
    "circulating_shares": "9267359712",
    "currency": "HKD",
    "dividend_yield": "3.4558141358352833",
    "eps": "13.7190213011686429",
    "eps_ttm": "18.0567016900844671",
    "exchange": "SEHK",
    "hk_shares": "9267359712",
    "lot_size": "100",
    "name_cn": "腾讯控股",
    "name_en": "TENCENT",
    "name_hk": "騰訊控股",
    "symbol": "700.HK",
    "total_shares": "9267359712",
}
