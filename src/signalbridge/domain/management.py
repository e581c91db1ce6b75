"""Position-management rules (pure): from a position's state and a price to the actions.

The monitor and the provider-update service both ask these functions what to do, so a rule
lives in one place and can be property-tested without a database or a venue. Invariants:
an automatic rule never loosens a stop, never closes more than the position holds, the
take-profit parts add up to the position, and a level is acted upon once (``tp_done`` and
``closing`` are the memory of what was already done).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from signalbridge.domain.bounds import StoreDecimal
from signalbridge.domain.market import tidy
from signalbridge.domain.signals import MAX_TAKE_PROFITS, Side

ZERO = Decimal(0)
HUNDRED = Decimal(100)
INFINITY = Decimal("Infinity")


class TrailingSettings(BaseModel):
    """A stop that follows the price at a fixed ``distance`` or ``percent`` (exactly one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    distance: StoreDecimal | None = Field(default=None, gt=0)
    percent: StoreDecimal | None = Field(default=None, gt=0, lt=100)
    #: Start trailing once this many take-profits were hit (0: from the start).
    after_tp: int = Field(default=0, ge=0, le=MAX_TAKE_PROFITS)

    @model_validator(mode="after")
    def _one_kind(self) -> TrailingSettings:
        if (self.distance is None) == (self.percent is None):
            raise ValueError("trailing needs exactly one of distance or percent")
        return self


class ManagementSettings(BaseModel):
    """A follow's ``management`` JSON: how the positions it opens are managed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Percent of the opened amount closed at each TP; ``None`` splits evenly. The last TP
    #: always closes what is left.
    tp_split: tuple[StoreDecimal, ...] | None = Field(default=None, max_length=MAX_TAKE_PROFITS)
    break_even_after_tp: int | None = Field(default=None, ge=1, le=MAX_TAKE_PROFITS)
    trailing: TrailingSettings | None = None
    close_on_opposite: bool = False
    #: Rest the stop and the next target on the venue as reduce-only trigger orders where
    #: the venue can (see :mod:`signalbridge.execution.protection`), so they hold even when
    #: SignalBridge is down. The monitor still watches and acts when one is missing.
    native_exits: bool = True
    #: A resting stop or target found cancelled by hand on the venue (position sync):
    #: ``replace`` rests it again; ``leave`` keeps it off for the rest of the position and
    #: the monitor enforces its level at market.
    on_manual_cancel: Literal["replace", "leave"] = "replace"

    @model_validator(mode="after")
    def _split_is_sane(self) -> ManagementSettings:
        if self.tp_split is not None:
            if not self.tp_split or any(p <= 0 for p in self.tp_split):
                raise ValueError("tp_split needs positive percentages")
            if sum(self.tp_split, ZERO) > HUNDRED:
                raise ValueError("tp_split percentages add up to more than 100")
        return self


def management_settings(raw: dict[str, Any] | None) -> ManagementSettings:
    """Validate a follow's stored ``management`` dict (empty means the defaults)."""
    return ManagementSettings.model_validate(raw or {})


@dataclass(frozen=True, slots=True)
class Precision:
    """What the venue allows for this symbol; amounts are rounded down to ``amount_step``."""

    amount_step: Decimal
    price_tick: Decimal
    min_amount: Decimal = ZERO
    contract_size: Decimal = Decimal(1)
    #: A reduce-only stop (whole position) / take-profit (a share) can rest on the venue.
    resting_stops: bool = False
    resting_targets: bool = False

    @property
    def resting_exits(self) -> bool:
        return self.resting_stops or self.resting_targets


@dataclass(frozen=True, slots=True)
class PositionView:
    """What the rules need to know about one open position."""

    side: Side
    opened: Decimal  # everything the entries filled: the basis of the TP split
    amount: Decimal  # what is still open
    entry: Decimal
    stop_loss: Decimal | None
    take_profits: tuple[Decimal, ...]
    tp_done: int  # take-profit levels already acted upon
    closing: bool  # a close of everything was already issued
    precision: Precision
    settings: ManagementSettings

    @property
    def long(self) -> bool:
        return self.side is Side.LONG


class ActionKind(StrEnum):
    TAKE_PROFIT = "take_profit"  # partial (or last) close at TP ``tp_index``
    CLOSE = "close"  # close ``amount`` now (everything when it is the whole position)
    MOVE_SL = "move_sl"  # set the stop to ``level``
    MODIFY_TP = "modify_tp"  # set take-profit ``tp_index`` (1-based) to ``level``


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    reason: str
    leg: str | None = None
    amount: Decimal = ZERO
    level: Decimal | None = None
    tp_index: int = 0


def beyond(long: bool, price: Decimal, level: Decimal) -> bool:
    """Whether ``price`` reached a favourable ``level`` (a target)."""
    return price >= level if long else price <= level


def stopped(long: bool, price: Decimal, stop: Decimal) -> bool:
    """Whether ``price`` reached an adverse ``stop``."""
    return price <= stop if long else price >= stop


def tighter(long: bool, new: Decimal, old: Decimal | None) -> bool:
    """Whether ``new`` is a stop that risks less than ``old``."""
    if old is None:
        return True
    return new > old if long else new < old


def _floor(value: Decimal, step: Decimal) -> Decimal:
    return tidy((value / step).to_integral_value(rounding=ROUND_FLOOR) * step)


def _ceil(value: Decimal, step: Decimal) -> Decimal:
    return tidy((value / step).to_integral_value(rounding=ROUND_CEILING) * step)


def tp_share(view: PositionView, k: int) -> Decimal:
    """The amount TP ``k`` (1-based, not the last) closes: its part of the opened amount."""
    count = len(view.take_profits)
    split = view.settings.tp_split
    if split is None:
        part = view.opened / count
    elif k - 1 < len(split):
        part = view.opened * split[k - 1] / HUNDRED
    else:
        part = ZERO
    amount = _floor(part, view.precision.amount_step)
    return amount if amount >= view.precision.min_amount else ZERO


def trail_stop(view: PositionView, price: Decimal) -> Decimal | None:
    """The stop the trailing rule wants at ``price`` (rounded to the tick, safe side)."""
    trail = view.settings.trailing
    if trail is None:
        return None
    tick = view.precision.price_tick
    if trail.distance is not None:
        raw = price - trail.distance if view.long else price + trail.distance
    else:
        assert trail.percent is not None
        factor = trail.percent / HUNDRED
        raw = price * (1 - factor) if view.long else price * (1 + factor)
    stop = _floor(raw, tick) if view.long else _ceil(raw, tick)
    if stop <= 0 or not (stop < price if view.long else stop > price):
        return None
    return stop


def evaluate(view: PositionView, price: Decimal) -> list[Action]:
    """Everything to do at ``price``, in order. Empty when nothing is due."""
    if view.closing or view.amount <= 0:
        return []
    long = view.long
    if view.stop_loss is not None and stopped(long, price, view.stop_loss):
        return [Action(ActionKind.CLOSE, "stop_loss", "sl", view.amount, view.stop_loss)]
    actions: list[Action] = []
    remaining, done, count = view.amount, view.tp_done, len(view.take_profits)
    while done < count and remaining > 0 and beyond(long, price, view.take_profits[done]):
        k = done + 1
        part = remaining if k == count else min(remaining, tp_share(view, k))
        level = view.take_profits[done]
        actions.append(Action(ActionKind.TAKE_PROFIT, "take_profit", f"t{k}", part, level, k))
        remaining -= part
        done = k
    if remaining <= 0:
        return actions
    stop, reasons = view.stop_loss, []
    if break_even_due(replace(view, tp_done=done)):
        stop = view.entry
        reasons.append("break_even")
    trail = view.settings.trailing
    if trail is not None and done >= trail.after_tp:
        candidate = trail_stop(view, price)
        if candidate is not None and tighter(long, candidate, stop):
            stop = candidate
            reasons.append("trailing")
    if reasons:
        actions.append(Action(ActionKind.MOVE_SL, "+".join(reasons), level=stop))
    return actions


def after(view: PositionView, actions: list[Action]) -> PositionView:
    """The state once ``actions`` were carried out (their orders assumed filled)."""
    for action in actions:
        if action.kind is ActionKind.TAKE_PROFIT:
            view = replace(
                view,
                amount=view.amount - action.amount,
                tp_done=max(view.tp_done, action.tp_index),
            )
        elif action.kind is ActionKind.CLOSE:
            left = view.amount - action.amount
            view = replace(view, amount=max(left, ZERO), closing=view.closing or left <= 0)
        elif action.kind is ActionKind.MOVE_SL:
            view = replace(view, stop_loss=action.level)
        elif action.level is not None:
            tps = modified_tps(view.take_profits, action.tp_index, action.level)
            view = replace(view, take_profits=tps)
    return view


def modified_tps(
    take_profits: tuple[Decimal, ...], index: int, level: Decimal
) -> tuple[Decimal, ...]:
    """Take-profits with TP ``index`` (1-based) set to ``level``; past the end appends."""
    tps = list(take_profits)
    if 1 <= index <= len(tps):
        tps[index - 1] = level
    else:
        tps.append(level)
    return tuple(tps)


def triggers(view: PositionView) -> tuple[Decimal | None, Decimal | None]:
    """``(adverse, favourable)`` prices at which :func:`evaluate` may act.

    For a long, act when the price is ≤ adverse or ≥ favourable (a short mirrors it). The
    monitor's index keeps these sorted, so one tick touches only positions that may act;
    the levels are conservative (a superset), :func:`evaluate` has the final word.
    """
    if view.closing or view.amount <= 0:
        return None, None
    long = view.long
    if break_even_due(view):
        # A target was reached without this monitor's tick (a resting order filled on the
        # venue): the stop moves at whatever the price is now.
        return view.stop_loss, (ZERO if long else INFINITY)
    favourable: list[Decimal] = []
    if view.tp_done < len(view.take_profits):
        favourable.append(view.take_profits[view.tp_done])
    trail = view.settings.trailing
    if trail is not None and view.tp_done >= trail.after_tp:
        favourable.append(_trail_threshold(view, trail))
    if not favourable:
        return view.stop_loss, None
    return view.stop_loss, (min(favourable) if long else max(favourable))


def break_even_due(view: PositionView) -> bool:
    """Whether the break-even rule wants the stop moved to the entry right now."""
    after_tp = view.settings.break_even_after_tp
    return (
        after_tp is not None
        and view.tp_done >= after_tp
        and tighter(view.long, view.entry, view.stop_loss)
    )


def _trail_threshold(view: PositionView, trail: TrailingSettings) -> Decimal:
    """The price beyond which the trailing stop would move (any price without a stop)."""
    stop = view.stop_loss
    if stop is None:
        return ZERO if view.long else INFINITY
    if trail.distance is not None:
        return stop + trail.distance if view.long else stop - trail.distance
    assert trail.percent is not None
    factor = trail.percent / HUNDRED
    return stop / (1 - factor) if view.long else stop / (1 + factor)


def unrealised_pnl(view: PositionView, price: Decimal) -> Decimal:
    """Open profit at ``price`` before exit fees (in the quote / account currency)."""
    sign = 1 if view.long else -1
    return (price - view.entry) * view.amount * view.precision.contract_size * sign
