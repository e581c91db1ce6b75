"""Each leg's role is what its venue request carries; adapters route by the role alone."""

from __future__ import annotations

import pytest

from signalbridge.domain.legs import role_of_leg
from signalbridge.execution.rows import order_role
from signalbridge.venues.base import OrderRole


@pytest.mark.parametrize(
    ("leg", "role"),
    [
        ("e0", "entry"),
        ("e12", "entry"),
        ("s1", "stop"),
        ("s7", "stop"),
        ("t1g1", "target"),
        ("t3g2", "target"),
        ("t2", "exit"),
        ("sl", "exit"),
        ("opp", "exit"),
        ("c17", "exit"),
        ("p4", "exit"),
    ],
)
def test_every_leg_has_one_role(leg: str, role: str) -> None:
    assert role_of_leg(leg) == role
    assert order_role(leg) is OrderRole(role)
