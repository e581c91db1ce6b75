"""The scheduled payments reconcile: what the gateways' webhooks missed, read back.

The scheduler runs :meth:`ReconcileJob.run_once` every
``SIGNALBRIDGE_PAYMENTS_RECONCILE_SECONDS`` (default 900; 0: off), the same work as
``signalbridge payments reconcile`` (services/payments/reconcile.py): every event or
state goes through the store-once-and-apply path, so what a webhook delivered already
is a duplicate and a run changes nothing twice.

The window. A gateway with an event list (Stripe) is read from the start of the last
run that read every gateway without an error, less :data:`OVERLAP` (events the provider
lists a little late), and never further back than :data:`LOOKBACK`; the first run of a
process, and every run after a failed one, reads the whole :data:`LOOKBACK`. Gateways
without a list are asked about every checkout still pending that was created within
:data:`LOOKBACK` and every live subscription, each run: a checkout paid long after it
was opened is found all the same. :data:`LOOKBACK` is the providers' own retry window
(Stripe retries for three days): older events were delivered, or read by an earlier run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from signalbridge.bootstrap import Container
from signalbridge.services.payments import reconcile
from signalbridge.services.payments.flow import PaymentFlow
from signalbridge.store.types import utcnow

log = structlog.get_logger("signalbridge.payments")

LOOKBACK = timedelta(days=3)
OVERLAP = timedelta(minutes=10)


@dataclass
class ReconcileJob:
    """One process's scheduled reconcile; see the module."""

    payments: PaymentFlow
    lookback: timedelta = LOOKBACK
    overlap: timedelta = OVERLAP
    clock: Callable[[], datetime] = utcnow
    #: Start of the last run that read every gateway cleanly (None: none yet).
    read_to: datetime | None = field(default=None, init=False)

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """``(since, states_since)`` of a run starting at ``now``."""
        oldest = now - self.lookback
        if self.read_to is None:
            return oldest, oldest
        return max(oldest, self.read_to - self.overlap), oldest

    async def run_once(self) -> list[reconcile.GatewayReport]:
        """One run over every gateway; its reports (errors are logged, not raised)."""
        started = self.clock()
        since, states_since = self.window(started)
        reports = await reconcile.run(
            self.payments.sessions,
            self.payments.directory,
            self.payments.callbacks,
            since=since,
            states_since=states_since,
        )
        if all(r.ok for r in reports):
            self.read_to = started
        for report in reports:
            counts = dict(report.outcomes)
            if report.ok:
                log.info("payments reconciled", gateway=report.connection_id, outcomes=counts)
            else:
                log.warning(
                    "payments reconcile incomplete",
                    gateway=report.connection_id,
                    outcomes=counts,
                    errors=report.errors[:5],
                )
        return reports


def reconcile_job(container: Container) -> ReconcileJob | None:
    """The job, or None when ``payments_reconcile_seconds`` is 0 (off)."""
    if container.settings.payments_reconcile_seconds <= 0:
        return None
    return ReconcileJob(container.payments)
