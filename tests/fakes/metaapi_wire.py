"""What the MetaApi fake puts on the wire: JSON (exact decimals), error bodies, the
MetaTrader objects as MetaApi's models spell them, and the request checks MetaApi makes
before a trade reaches the terminal (the ``clientId`` format and length)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tests.fakes.metaapi_state import ZERO, FakeAccount, FakeDeal, FakeOrder, FakePosition

PREFIX = "/users/current/accounts/"
#: comment + clientId, per MetaApi's clientId usage page ("restricted to 26 alphanumeric
#: characters").
MAX_CLIENT_FIELDS = 26
#: ``${strategyId}_${positionId}_${orderId}``, each part alphanumeric (clientId usage).
CLIENT_ID_FORMAT = re.compile(r"^[A-Za-z0-9]+_[A-Za-z0-9]+_[A-Za-z0-9]+$")
HISTORY_LIMIT = 1000  # history-orders / history-deals: default and maximum page size


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def broker_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def error_body(error: str, message: str, **extra: Any) -> dict[str, Any]:
    """MetaApi's Error model: ``{id, error, message}`` plus ``details``/``metadata``."""
    return {"id": 1, "error": error, "message": message, **extra}


def dumps(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(body), status_code=status, media_type="application/json", headers=headers)


def validation_error(parameter: str, message: str) -> Response:
    details = [{"parameter": parameter, "message": message}]
    return json_response(400, error_body("ValidationError", "Validation failed", details=details))


def trade_problem(body: dict[str, Any]) -> tuple[str, str] | None:
    """Why MetaApi would refuse this MetatraderTrade as a ValidationError (HTTP 400)."""
    action = body.get("actionType")
    if not isinstance(action, str):
        return ("actionType", "actionType is required")
    client_id, comment = body.get("clientId"), body.get("comment")
    if client_id is not None:
        if not isinstance(client_id, str):
            return ("clientId", "clientId must be a string")
        if not CLIENT_ID_FORMAT.match(client_id):
            return ("clientId", "clientId must follow ${strategyId}_${positionId}_${orderId}")
    total = len(client_id or "") + len(comment or "")
    if total > MAX_CLIENT_FIELDS:
        return (
            "clientId",
            f"comment and clientId together must not exceed {MAX_CLIENT_FIELDS} characters",
        )
    if action.startswith("ORDER_TYPE_"):
        volume = body.get("volume")
        if not isinstance(volume, Decimal | int) or isinstance(volume, bool) or volume < 0:
            return ("volume", "volume must be a non-negative number")
        if not isinstance(body.get("symbol"), str):
            return ("symbol", "symbol is required")
    for level in ("stopLoss", "takeProfit"):
        value = body.get(level)
        if value is not None and (not isinstance(value, Decimal | int) or value < 0):
            return (level, f"{level} must be a number, min: 0")
    return None


def page_params(request: Request) -> tuple[int, int] | str:
    """``offset`` (min 0, default 0) and ``limit`` (1..1000, default 1000), or the problem."""
    try:
        offset = int(request.query_params.get("offset", "0"))
        limit = int(request.query_params.get("limit", str(HISTORY_LIMIT)))
    except ValueError:
        return "offset and limit must be integers"
    if offset < 0:
        return "offset must be at least 0"
    if not 1 <= limit <= HISTORY_LIMIT:
        return f"limit must be between 1 and {HISTORY_LIMIT}"
    return offset, limit


def parse_time(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def deal_json(account: FakeAccount, d: FakeDeal) -> dict[str, Any]:
    return drop_none(
        {
            "id": d.id,
            "platform": account.platform,
            "type": d.type,
            "entryType": d.entry_type,
            "symbol": d.symbol,
            "magic": 0,
            "time": iso(d.time),
            "brokerTime": broker_time(d.time),
            "volume": d.volume,
            "price": d.price,
            "commission": ZERO,
            "swap": ZERO,
            "profit": d.profit,
            "positionId": d.position_id,
            "orderId": d.order_id,
            "clientId": d.client_id,
            "reason": d.reason,
        }
    )


def position_json(
    account: FakeAccount, p: FakePosition, current: Decimal, tick_value: Decimal, profit: Decimal
) -> dict[str, Any]:
    return drop_none(
        {
            "id": p.id,
            "platform": account.platform,
            "type": p.type,
            "symbol": p.symbol,
            "magic": p.magic,
            "time": iso(p.time),
            "brokerTime": broker_time(p.time),
            "updateTime": iso(p.time),
            "openPrice": p.open_price,
            "currentPrice": current,
            "currentTickValue": tick_value,
            "stopLoss": p.stop_loss,
            "takeProfit": p.take_profit,
            "volume": p.volume,
            "swap": ZERO,
            "commission": ZERO,
            "profit": profit,
            "unrealizedProfit": profit,
            "realizedProfit": ZERO,
            "comment": p.comment,
            "clientId": p.client_id,
            "reason": "POSITION_REASON_EXPERT",
        }
    )


def order_json(account: FakeAccount, o: FakeOrder, current: Decimal) -> dict[str, Any]:
    return drop_none(
        {
            "id": o.id,
            "platform": account.platform,
            "type": o.type,
            "state": o.state,
            "magic": o.magic,
            "time": iso(o.time),
            "brokerTime": broker_time(o.time),
            "doneTime": iso(o.done_time) if o.done_time else None,
            "symbol": o.symbol,
            "openPrice": o.open_price,
            "currentPrice": current,
            "stopLoss": o.stop_loss,
            "takeProfit": o.take_profit,
            "stopLimitPrice": o.stop_limit_price,
            "volume": o.volume,
            "currentVolume": o.current_volume if o.current_volume is not None else o.volume,
            "positionId": o.position_id,
            "comment": o.comment,
            "clientId": o.client_id,
            "reason": "ORDER_REASON_EXPERT",
            "fillingMode": "ORDER_FILLING_FOK",
            "expirationType": "ORDER_TIME_GTC",
        }
    )


async def send_json(
    send: Any, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def abort_connection(send: Any) -> None:
    """Reset the TCP connection before any response byte (uvicorn h11: the cycle's transport)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("cannot reach the connection to drop it")
    cycle.disconnected = True  # type: ignore[union-attr]
    transport.abort()


def route_name(path: str) -> str:
    """Coarse route name for counters: ``trade``, ``positions``, ``current-price``, ``account``."""
    if path == "/users/current/servers/mt-client-api":
        return "servers"
    if not path.startswith(PREFIX):
        return path
    parts = path[len(PREFIX) :].split("/")[1:]
    if not parts:
        return "account"
    if parts[0] == "symbols" and len(parts) >= 3:
        return parts[2]
    return parts[0]
