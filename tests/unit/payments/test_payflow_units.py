"""The payment flow's pure parts: billing periods, plan validation, fee terms, ``--since``,
reconcile's state events, and the reconcile command's help and empty run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from typer.testing import CliRunner

from signalbridge.commands import app
from signalbridge.commands.payments import parse_since
from signalbridge.domain.bounds import check_storable
from signalbridge.integrations.vault import generate_key
from signalbridge.payments.base import (
    BillingInterval,
    PaymentEventKind,
    Subject,
    SubjectKind,
    SubjectState,
    SubjectStatus,
)
from signalbridge.services.payments.gateways import LiveGateway, fee_terms
from signalbridge.services.payments.periods import add_interval
from signalbridge.services.payments.plans import PlanSpec, price_map
from signalbridge.services.payments.reconcile import state_event
from signalbridge.store import models as m

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


# --- periods -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "interval", "count", "end"),
    [
        (
            datetime(2027, 1, 31, tzinfo=UTC),
            BillingInterval.MONTH,
            1,
            datetime(2027, 2, 28, tzinfo=UTC),
        ),
        (
            datetime(2028, 1, 31, tzinfo=UTC),
            BillingInterval.MONTH,
            1,
            datetime(2028, 2, 29, tzinfo=UTC),
        ),
        (
            datetime(2026, 12, 15, tzinfo=UTC),
            BillingInterval.MONTH,
            3,
            datetime(2027, 3, 15, tzinfo=UTC),
        ),
        (
            datetime(2028, 2, 29, tzinfo=UTC),
            BillingInterval.YEAR,
            1,
            datetime(2029, 2, 28, tzinfo=UTC),
        ),
        (NOW, BillingInterval.WEEK, 2, NOW + timedelta(days=14)),
        (NOW, BillingInterval.DAY, 30, NOW + timedelta(days=30)),
        (NOW, BillingInterval.ONE_TIME, 1, None),
    ],
)
def test_add_interval(
    start: datetime, interval: BillingInterval, count: int, end: datetime | None
) -> None:
    assert add_interval(start, interval, count) == end


def test_add_interval_refuses_a_zero_count() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        add_interval(NOW, BillingInterval.MONTH, 0)


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    st.integers(1, 120),
)
def test_months_always_move_forward_and_keep_the_day_when_they_can(
    start: datetime, count: int
) -> None:
    end = add_interval(start, BillingInterval.MONTH, count)
    assert end is not None and end > start
    assert end.day == start.day or end.day < start.day  # clipped to the month's last day
    assert (end.year - start.year) * 12 + end.month - start.month == count


# --- plans ---------------------------------------------------------------------------------


def spec(**kw: Any) -> PlanSpec:
    values: dict[str, Any] = {"name": "Gold", "prices": {"USD": "19.00"}, **kw}
    return PlanSpec.model_validate(values)


def test_a_plan_with_prices_per_currency() -> None:
    plan = spec(
        prices={"USD": "19.00", "EUR": "17.5", "USDT.TRC20": "19"},
        interval="year",
        gateway_prices={"stripe": {"USD": "price_1"}, "paypal": "P-1"},
    )
    assert plan.prices == {
        "USD": Decimal("19.00"),
        "EUR": Decimal("17.5"),
        "USDT.TRC20": Decimal("19"),
    }
    assert plan.interval is BillingInterval.YEAR


@pytest.mark.parametrize(
    "bad",
    [
        {"prices": {}},
        {"prices": {"usd": "1"}},
        {"prices": {"USD": "0"}},
        {"prices": {"USD": "-1"}},
        {"prices": {"USD": "NaN"}},
        {"prices": {"USD": "1e40"}},
        {"prices": {"USD": "0.0000000000000000001"}},
        {"prices": {"USD": "6_00"}},
        {"interval": "fortnight"},
        {"interval": "one_time", "trial_days": 7},
        {"interval_count": 0},
        {"trial_days": -1},
        {"channel_ids": [0]},
        {"channel_ids": [2**64]},
        {"gateway_prices": {"stripe": {"usd": "price_1"}}},
        {"gateway_prices": {"stripe": "bad\nid"}},
        {"surprise": True},
    ],
)
def test_bad_plans_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        spec(**bad)


@given(st.dictionaries(st.text(max_size=12), st.text(max_size=30), max_size=4))
def test_any_price_map_is_refused_or_storable(prices: dict[str, str]) -> None:
    try:
        plan = spec(prices=prices)
    except ValidationError:
        return
    for code, amount in plan.prices.items():
        assert code.isupper() or code[0].isupper()
        assert amount > 0 and check_storable(amount) == amount


def test_price_map_falls_back_to_the_single_price() -> None:
    old = m.Plan(name="Old", price=Decimal("5"), currency="EUR", prices={})
    assert price_map(old) == {"EUR": Decimal("5")}
    new = m.Plan(name="New", price=Decimal("5"), currency="EUR", prices={"USD": "6.50"})
    assert price_map(new) == {"USD": Decimal("6.50")}


# --- fees --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "terms"),
    [
        ({}, (Decimal(0), Decimal(0))),
        ({"fee_rate": "0.029", "fixed_fee": "0.30"}, (Decimal("0.029"), Decimal("0.30"))),
        ({"fee_rate": "garbage", "fixed_fee": "-1"}, (Decimal(0), Decimal(0))),
        ({"fee_rate": "1e99"}, (Decimal(0), Decimal(0))),
    ],
)
def test_fee_terms(config: dict[str, Any], terms: tuple[Decimal, Decimal]) -> None:
    assert fee_terms(config) == terms


def test_fee_for_is_exact_and_storable() -> None:
    live = LiveGateway(1, "x", "x", object(), Decimal("0.029"), Decimal("0.30"), NOW)  # type: ignore[arg-type]
    assert live.fee_for(Decimal("19.00")) == Decimal("0.851")
    assert live.fee_for(Decimal("0.000000000000000001")) == Decimal("0.3")


# --- reconcile ------------------------------------------------------------------------------


def test_parse_since() -> None:
    assert parse_since("3d", NOW) == NOW - timedelta(days=3)
    assert parse_since("12h", NOW) == NOW - timedelta(hours=12)
    assert parse_since(" 30m ", NOW) == NOW - timedelta(minutes=30)
    assert parse_since("2026-12-01T00:00:00", NOW) == datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_since("2026-12-01T02:00:00+02:00", NOW) == datetime(2026, 12, 1, tzinfo=UTC)
    for bad in ("", "3 days", "0d", "-3d", "2027-01-01T00:00:00", "yesterday"):
        with pytest.raises(ValueError, match="since"):
            parse_since(bad, NOW)


def _state(kind: SubjectKind, status: SubjectStatus, **kw: Any) -> SubjectState:
    return SubjectState(
        subject=Subject(kind, "obj_1"), status=status, provider_status=status.value, as_of=NOW, **kw
    )


def test_state_events_are_keyed_by_subject_status_and_marker() -> None:
    paid = state_event(
        "double",
        _state(SubjectKind.CHECKOUT, SubjectStatus.PAID, amount=Decimal("5"), currency="USD"),
    )
    assert paid is not None and paid.kind is PaymentEventKind.CHECKOUT_COMPLETED
    assert paid.event_id == "reconcile:checkout:obj_1:paid:20261207T100000.000000"
    assert paid == state_event(
        "double",
        _state(SubjectKind.CHECKOUT, SubjectStatus.PAID, amount=Decimal("5"), currency="USD"),
    )
    ended = state_event("double", _state(SubjectKind.SUBSCRIPTION, SubjectStatus.CANCELED))
    assert ended is not None and ended.kind is PaymentEventKind.SUBSCRIPTION_CANCELED
    assert ended.subscription_id == "obj_1"
    live = state_event("double", _state(SubjectKind.SUBSCRIPTION, SubjectStatus.PAST_DUE))
    assert live is not None and live.kind is PaymentEventKind.SUBSCRIPTION_UPDATED
    assert state_event("double", _state(SubjectKind.CHECKOUT, SubjectStatus.TRIALING)) is not None
    assert state_event("double", _state(SubjectKind.CHECKOUT, SubjectStatus.PAST_DUE)) is None


def test_reconcile_help_says_what_it_does() -> None:
    result = CliRunner().invoke(app, ["payments", "reconcile", "--help"])
    assert result.exit_code == 0
    for words in ("--gateway", "--since", "3d", "applied once"):
        assert words in " ".join(result.output.split())


def test_reconcile_without_gateways_and_with_a_bad_since(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNALBRIDGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SIGNALBRIDGE_SECRET_KEYS", generate_key())
    monkeypatch.setenv("SIGNALBRIDGE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'sb.db'}")
    runner = CliRunner()
    bad = runner.invoke(app, ["payments", "reconcile", "--since", "soon"])
    assert bad.exit_code == 2 and "since" in bad.output
    empty = runner.invoke(app, ["payments", "reconcile"])
    assert empty.exit_code == 0, empty.output
    assert "no payment gateway connections" in empty.output
    missing = runner.invoke(app, ["payments", "reconcile", "--gateway", "7"])
    assert missing.exit_code == 2 and "payment gateway 7 not found" in missing.output
