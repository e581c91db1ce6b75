"""Billing periods: a start plus ``count`` intervals, months and years by the calendar."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

from signalbridge.payments.base import BillingInterval


def add_interval(start: datetime, interval: BillingInterval, count: int = 1) -> datetime | None:
    """``start`` plus ``count`` intervals; None for a one-time plan (paid once, no end).

    Months keep the day of the month where it exists and take the month's last day where
    it does not (31 January + 1 month = 28 or 29 February), as providers bill.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    if interval is BillingInterval.ONE_TIME:
        return None
    if interval is BillingInterval.DAY:
        return start + timedelta(days=count)
    if interval is BillingInterval.WEEK:
        return start + timedelta(weeks=count)
    months = count * (12 if interval is BillingInterval.YEAR else 1)
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)
