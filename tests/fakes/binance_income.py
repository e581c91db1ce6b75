"""The fake Binance's income history: ``GET /fapi/v1/income`` (USDⓈ-M "Get Income History").

As Binance documents it: signed (USER_DATA), weight 30; ``symbol``, ``incomeType``,
``startTime`` and ``endTime`` (both inclusive, ms), ``limit`` (default 100, at most 1,000)
filter; without ``startTime`` and ``endTime`` only the last 7 days are answered. Each
entry is ``{"symbol", "incomeType", "income", "asset", "info", "time", "tranId",
"tradeId"}``, ``income`` a decimal string (positive: received), ``tranId`` unique per
income type for the account, oldest first. Tests book funding payments with
:meth:`IncomeLedger.add_funding` (``fake.income.add_funding(...)``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from tests.fakes.binance_book import BinanceError

PATH = "/fapi/v1/income"
WEEK_MS = 7 * 24 * 3600 * 1000
MAX_LIMIT = 1000
INCOME_TYPES = frozenset(
    {
        "TRANSFER",
        "WELCOME_BONUS",
        "REALIZED_PNL",
        "FUNDING_FEE",
        "COMMISSION",
        "INSURANCE_CLEAR",
        "REFERRAL_KICKBACK",
        "COMMISSION_REBATE",
        "API_REBATE",
        "CONTEST_REWARD",
        "CROSS_COLLATERAL_TRANSFER",
        "OPTIONS_PREMIUM_FEE",
        "OPTIONS_SETTLE_PROFIT",
        "INTERNAL_TRANSFER",
        "AUTO_EXCHANGE",
        "DELIVERED_SETTELMENT",
        "COIN_SWAP_DEPOSIT",
        "COIN_SWAP_WITHDRAW",
        "POSITION_LIMIT_INCREASE_FEE",
        "STRATEGY_UMFUTURES_TRANSFER",
        "FEE_RETURN",
        "BFUSD_REWARD",
    }
)


def _ms(p: dict[str, str], name: str) -> int | None:
    raw = p.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise BinanceError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        ) from None


class IncomeLedger:
    """The account's income entries (thread-safe: the server thread reads them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self._next_id = 9_689_322_392

    def add_funding(
        self, symbol: str, income: Decimal | str, *, asset: str = "USDT", at_ms: int
    ) -> int:
        """Book a funding fee on ``symbol`` (venue id, e.g. ``BTCUSDT``) at ``at_ms``;
        its ``tranId``."""
        with self._lock:
            tran_id = self._next_id
            self._next_id += 1
            self._entries.append(
                {
                    "symbol": symbol,
                    "incomeType": "FUNDING_FEE",
                    "income": f"{Decimal(str(income)):.8f}",
                    "asset": asset,
                    "info": "FUNDING_FEE",
                    "time": at_ms,
                    "tranId": tran_id,
                    "tradeId": "",
                }
            )
            return tran_id

    def answer(self, p: dict[str, str], now_ms: int, check_symbol: Callable[[str], object]) -> Any:
        """The answer to one ``GET /fapi/v1/income`` (params already authenticated)."""
        symbol = p.get("symbol")
        if symbol:
            check_symbol(symbol)
        kind = p.get("incomeType")
        if kind and kind not in INCOME_TYPES:
            raise BinanceError(-1100, "Illegal characters found in parameter 'incomeType'.")
        start, end = _ms(p, "startTime"), _ms(p, "endTime")
        if start is None and end is None:
            start = now_ms - WEEK_MS
        try:
            limit = int(p.get("limit") or 100)
        except ValueError:
            limit = -1
        if not 1 <= limit <= MAX_LIMIT:
            raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
        with self._lock:
            rows = [
                dict(e)
                for e in self._entries
                if (not symbol or e["symbol"] == symbol)
                and (not kind or e["incomeType"] == kind)
                and (start is None or e["time"] >= start)
                and (end is None or e["time"] <= end)
            ]
        rows.sort(key=lambda e: (e["time"], e["tranId"]))
        return rows[:limit]
