"""Running the platform in one process or as separate workers and a scheduler.

``serve`` = web + worker + scheduler; ``serve --no-worker`` = web only; ``worker`` and
``scheduler`` are the other two roles. Every role gets the same container from
bootstrap; a Platform only starts the loops of its roles and registers the tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog
from taskiq.api import run_receiver_task

from signalbridge.bootstrap import Container
from signalbridge.channels.telegram.client import BotApi
from signalbridge.execution.funding import FundingSync
from signalbridge.execution.position_sync import PositionSync, SyncReport
from signalbridge.execution.reconcile import reconcile_all
from signalbridge.jobs.payments_reconcile import reconcile_job
from signalbridge.jobs.polling import default_owner, polling_runner
from signalbridge.jobs.sweeper import sweep
from signalbridge.jobs.tasks import register_tasks
from signalbridge.notifications.runner import NotificationRunner
from signalbridge.notifications.sender import TelegramLimits
from signalbridge.services.entitlement_notices import NoticeReport, send_notices

log = structlog.get_logger("signalbridge.runtime")


def notification_runner(container: Container) -> NotificationRunner | None:
    """The notification bot's job, when a bot token is set; None turns notices off."""
    s = container.settings
    if s.notify_bot_token is None or not s.notify_bot_token.get_secret_value():
        return None
    api = BotApi(
        s.notify_bot_token.get_secret_value(),
        http=container.http,
        guard=container.kernel.guard("notify", 0, "telegram"),
        api_url=s.notify_bot_api_url,
    )
    limits = TelegramLimits(container.kernel.limiter)
    return NotificationRunner(container.sessions, api, limits, owner=default_owner())


class Platform:
    """The roles one process plays; started and stopped with the web app's lifespan."""

    def __init__(self, container: Container, *, worker: bool, scheduler: bool) -> None:
        if not worker and container.queue.in_process:
            raise ValueError(
                "without a worker in this process the queue must be shared: set "
                "SIGNALBRIDGE_BROKER_URL=redis://..."
            )
        self.container = container
        self.worker = worker
        self.scheduler = scheduler
        self.engine = container.execution
        register_tasks(
            container.queue,
            container.sessions,
            container.execution,
            container.adapter_pool,
            container.ai_parsing,
        )
        self._tasks: list[asyncio.Task[None]] = []
        desk = container.monitor.desk
        # The monitor's tick and the syncs' comparisons take turns (the venues are read
        # outside it): a stop the monitor is cancelling must not look cancelled by hand.
        self._books = asyncio.Lock()
        #: Positions and orders against the venue's, one batch per connection.
        self.position_sync = PositionSync(
            self.engine, canceller=desk.canceller, guards=desk.guards, books=self._books
        )

    async def start(self) -> None:
        await self.container.queue.startup()
        if self.worker:
            # Compare what the database believes with every venue before new work piles up.
            self._tasks.append(asyncio.create_task(self._reconcile_at_start()))
        if self.worker and not self.container.queue.in_process:
            self._tasks.append(asyncio.create_task(run_receiver_task(self.container.queue.broker)))
        if self.scheduler:
            s = self.container.settings
            self._every(s.sweep_interval_seconds, self.sweep_once)
            self._every(s.order_sync_seconds, self.sync_open_orders)
            if s.position_sync_seconds > 0:
                self._every(s.position_sync_seconds, self.sync_positions)
            self._every(s.paper_tick_seconds, self.tick_paper)
            self._every(s.monitor_seconds, self.monitor_once)
            if s.funding_sync_seconds > 0:  # funding into realised PnL (execution/funding.py)
                funding = FundingSync(self.container.sessions, self.container.adapter_pool)
                self._every(s.funding_sync_seconds, funding.run_once)
            self._every(s.poll_interval_seconds, polling_runner(self.container).run_once)
            self._every(s.entitlement_job_seconds, self.entitlement_notices)
            payments = reconcile_job(self.container)  # None: payments_reconcile_seconds 0
            if payments is not None:
                self._every(s.payments_reconcile_seconds, payments.run_once)
            notifier = notification_runner(self.container)
            if notifier is not None:
                self._every(s.notify_seconds, notifier.run_once)

    def _every(self, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        async def loop() -> None:
            while True:
                try:
                    await job()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a failing job must not stop the scheduler
                    log.warning("scheduled job failed", job=job.__name__, error=type(exc).__name__)
                await asyncio.sleep(seconds)

        self._tasks.append(asyncio.create_task(loop()))

    async def _reconcile_at_start(self) -> None:
        try:
            report = await reconcile_all(self.engine)
        except Exception as exc:  # a venue that is down must not stop the worker
            log.warning("start-up reconciliation failed", error=type(exc).__name__)
            return
        log.info(
            "start-up reconciliation",
            repaired=len(report.repaired),
            flagged=len(report.flagged),
            foreign_orders=report.foreign_orders,
        )

    async def sweep_once(self) -> int:
        s = self.container.settings
        return await sweep(
            self.container.sessions,
            self.container.queue,
            stuck_after=timedelta(seconds=s.stuck_after_seconds),
        )

    async def sync_open_orders(self) -> int:
        """Ask each venue for its open orders in one request per connection; only orders
        the list does not show are looked up one by one (they may have filled)."""
        return await self.position_sync.orders.run_once()

    async def sync_positions(self) -> SyncReport:
        """One position sync: each connection's positions and open orders in one batch,
        compared with ours (closed outside, cancelled by hand, foreign positions)."""
        return await self.position_sync.run_once()

    async def monitor_once(self) -> None:
        """One position-monitor tick: batched prices, SL/TP/trailing/break-even exits."""
        async with self._books:
            await self.container.monitor.run_once()

    async def entitlement_notices(self) -> NoticeReport:
        """Reminders before a plan's period ends and notices when one ends, each once."""
        return await send_notices(
            self.container.sessions, reminder_days=self.container.settings.payments_reminder_days
        )

    async def tick_paper(self) -> None:
        exchange = self.container.adapter_deps.shared.get("paper")
        if exchange is not None:
            await exchange.advance()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.container.close()
