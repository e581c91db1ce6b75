"""The scheduled payments reconcile's window and its setting (jobs/payments_reconcile.py).

The first run of a process, and every run after one that failed, reads the whole
look-back; after a clean run, event lists are read from that run's start less the
overlap, while pending checkouts are asked about over the whole look-back each time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from tests.platform_fixtures import make_settings

from signalbridge.bootstrap import build_container
from signalbridge.jobs.payments_reconcile import LOOKBACK, OVERLAP, ReconcileJob, reconcile_job
from signalbridge.services.payments.flow import PaymentFlow
from signalbridge.settings import Settings

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def job() -> ReconcileJob:
    return ReconcileJob(cast(PaymentFlow, object()))  # window() reads no payments


def test_the_first_run_reads_the_whole_lookback() -> None:
    assert job().window(NOW) == (NOW - LOOKBACK, NOW - LOOKBACK)
    assert LOOKBACK == timedelta(days=3)  # Stripe's retry window


def test_after_a_clean_run_lists_are_read_from_its_start_less_the_overlap() -> None:
    j = job()
    j.read_to = NOW - timedelta(minutes=15)
    since, states_since = j.window(NOW)
    assert since == NOW - timedelta(minutes=15) - OVERLAP
    assert states_since == NOW - LOOKBACK  # a checkout paid late is still asked about


@given(ago=st.integers(min_value=0, max_value=30 * 86_400))
def test_the_window_never_reaches_past_the_lookback(ago: int) -> None:
    j = job()
    j.read_to = NOW - timedelta(seconds=ago)
    since, states_since = j.window(NOW)
    assert NOW - LOOKBACK <= since <= NOW and states_since == NOW - LOOKBACK
    # from before the last clean run (nothing skipped), unless that is past the look-back
    assert since == max(NOW - LOOKBACK, j.read_to - OVERLAP)
    assert since <= j.read_to or since == NOW - LOOKBACK


def test_the_setting_defaults_to_900_seconds_and_0_turns_the_job_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    assert make_settings(tmp_path, url).payments_reconcile_seconds == 900
    monkeypatch.setenv("SIGNALBRIDGE_PAYMENTS_RECONCILE_SECONDS", "0")
    assert Settings().payments_reconcile_seconds == 0
    with pytest.raises(ValidationError):
        make_settings(tmp_path, url, payments_reconcile_seconds=-1)
    off = build_container(make_settings(tmp_path, url, payments_reconcile_seconds=0))
    on = build_container(make_settings(tmp_path, url, payments_reconcile_seconds=60))
    assert reconcile_job(off) is None
    found = reconcile_job(on)
    assert found is not None and found.payments is on.payments and found.read_to is None
