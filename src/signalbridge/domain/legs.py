"""Order legs: what each order of an execution is for, part of its client order id.

A leg is unique within its execution, so ``<prefix>-<execution>-<leg>`` names one intent
and deciding it twice gives one order. The legs:

- ``e<n>``: entry ``n`` (the market entry, or one limit of an entry zone);
- ``t<k>``: take-profit ``k`` closed at market by the monitor;
- ``t<k>g<g>``: take-profit ``k`` resting on the venue, generation ``g`` (a moved target is
  a new order, since a venue may refuse a client order id it has seen);
- ``s<g>``: the stop resting on the venue, generation ``g``;
- ``sl``: the stop closed at market by the monitor;
- ``opp``: closed on an opposite signal;
- ``c<id>`` / ``p<id>``: closed wholly / partly by provider update ``<id>``;
- ``m<id>`` / ``mp<id>``: closed wholly / partly by manual action ``<id>`` (services/override.py).

Every leg but the entries reduces the position.
"""

from __future__ import annotations

import re
from typing import Literal

_TARGET = re.compile(r"t(\d+)(?:g(\d+))?")
_STOP = re.compile(r"s(\d+)")
#: The role of the stop among resting orders; a target's role is its take-profit number.
STOP_ROLE = 0
#: Legs that close everything: a later evaluation must not act on the position again.
FULL_CLOSE_LEGS = ("sl", "opp")


#: What an order is for, as its venue request says it (an adapter never parses legs):
#: an entry, the stop or a target resting on the venue, or any other exit.
Role = Literal["entry", "stop", "target", "exit"]


def role_of_leg(leg: str) -> Role:
    """The role of a leg: ``e<n>`` entry, ``s<g>`` resting stop, ``t<k>g<g>`` resting target,
    anything else (market exits, closes) an exit."""
    if is_entry_leg(leg):
        return "entry"
    resting = resting_leg(leg)
    if resting is None:
        return "exit"
    return "stop" if resting[0] == STOP_ROLE else "target"


def is_entry_leg(leg: str) -> bool:
    """Entry legs are ``e<n>``; every other leg is an exit."""
    return leg.startswith("e") and leg[1:].isdigit()


def target_index(leg: str) -> int | None:
    """The take-profit number of a target leg (at market or resting), else ``None``."""
    found = _TARGET.fullmatch(leg)
    return int(found.group(1)) if found else None


def is_full_close(leg: str) -> bool:
    """Whether the leg closes the whole position (monitor stop, opposite, close all)."""
    return leg in FULL_CLOSE_LEGS or (leg[:1] in ("c", "m") and leg[1:].isdigit())


def stop_leg(generation: int) -> str:
    return f"s{generation}"


def target_leg(tp_index: int, generation: int) -> str:
    return f"t{tp_index}g{generation}"


def resting_leg(leg: str) -> tuple[int, int] | None:
    """``(take-profit number, generation)`` of a resting leg (0 for the stop), else ``None``."""
    stop = _STOP.fullmatch(leg)
    if stop:
        return 0, int(stop.group(1))
    target = _TARGET.fullmatch(leg)
    if target and target.group(2) is not None:
        return int(target.group(1)), int(target.group(2))
    return None
