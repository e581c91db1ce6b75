"""The staff dashboard (``/console``): signals per hour, latency per stage, open positions
and PnL, recent failures and connection health with breaker states, over the last 24 h.

Figures come from services/dashboard.py and services/pnl.py, narrowed to the caller like
the API; breaker states from the kernel, as the connections API shows them. The chart is
an SVG drawn here (no script), beside a table of the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from signalbridge.bootstrap import Container
from signalbridge.services import dashboard, pnl
from signalbridge.store.types import utcnow
from signalbridge.web.console.auth import Staff, allow
from signalbridge.web.console.render import render
from signalbridge.web.deps import ContainerDep

router = APIRouter(include_in_schema=False)

#: The chart's drawing box (SVG user units): bars share the width, the tallest fills it.
CHART_WIDTH = 720
CHART_HEIGHT = 160
BAR_GAP = 4
LABEL_SPACE = 18


@dataclass(frozen=True, slots=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    label: str
    count: int
    tick: bool  # show the hour under the bar


def bars(hours: list[dashboard.HourCount]) -> list[Bar]:
    """The bars of the signals-per-hour chart, scaled to the busiest hour."""
    top = max((h.count for h in hours), default=0) or 1
    slot = CHART_WIDTH // max(len(hours), 1)
    out = []
    for i, hour in enumerate(hours):
        height = round(hour.count / top * CHART_HEIGHT)
        if hour.count and height < 2:
            height = 2  # a lone signal stays visible
        out.append(
            Bar(
                x=i * slot + BAR_GAP // 2,
                y=CHART_HEIGHT - height,
                width=slot - BAR_GAP,
                height=height,
                label=hour.start.strftime("%H:00"),
                count=hour.count,
                tick=i % 3 == 0,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Breaker:
    """A watched connection with the kernel's breaker state for it."""

    connection: dashboard.WatchedConnection
    state: str
    failures: int
    retry_in: float | None

    @property
    def attention(self) -> bool:
        return self.state != "closed" or self.connection.consecutive_failures > 0


async def breakers(c: Container, watched: list[dashboard.WatchedConnection]) -> list[Breaker]:
    """The breaker of each connection, those needing attention first."""
    out = []
    for row in watched:
        state: dict[str, Any] = await c.kernel.breaker_state(row.kind, row.row_id)
        out.append(Breaker(row, str(state["state"]), int(state["failures"]), state.get("retry_in")))
    out.sort(key=lambda b: (not b.attention, b.connection.kind, b.connection.row_id))
    return out


@router.get("/console")
async def dashboard_page(request: Request, login: Staff, c: ContainerDep) -> Response:
    who = login.principal
    allow(who, "signals:read", "signal")
    allow(who, "executions:read", "position")
    now = utcnow()
    since = now - dashboard.WINDOW
    async with c.sessions() as s, s.begin():
        hours = await dashboard.signals_per_hour(s, who, now)
        latencies = await dashboard.stage_latencies(s, who, since)
        open_count = await dashboard.open_positions(s, who)
        found = await pnl.rows(s, who, funding_enabled=c.settings.funding_sync_seconds > 0)
        totals = pnl.overall(found)
        failures = await dashboard.recent_failures(s, who, since)
        watched, more = await dashboard.watched_connections(s, who)
    states = await breakers(c, watched)
    counts = {
        state: sum(1 for b in states if b.state == state)
        for state in ("closed", "half_open", "open")
    }
    return render(
        request,
        "console/dashboard.html",
        login,
        hours=hours,
        bars=bars(hours),
        chart_width=CHART_WIDTH,
        chart_height=CHART_HEIGHT,
        label_space=LABEL_SPACE,
        signals_total=sum(h.count for h in hours),
        busiest=max((h.count for h in hours), default=0),
        latencies=latencies,
        open_positions=open_count,
        totals=totals,
        failures=failures,
        breakers=states,
        breaker_counts=counts,
        attention=[b for b in states if b.attention],
        more_connections=more,
        now=now,
    )
