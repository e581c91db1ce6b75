"""The composition root: the one place that builds the object graph from settings.

Entry points (CLI commands, the ASGI app, workers, the scheduler) call
:func:`build_container` and pass the result down. Nothing else reads settings or creates
database engines, brokers, clients, pools or caches, and nothing is built later on demand.

One runtime serves every role. A process plays web, worker and scheduler (``serve``) or
some of them (``serve --no-worker``, ``worker``, ``scheduler``); the roles differ in what
:class:`signalbridge.jobs.runtime.Platform` starts, not in what exists. Every part is a
plain constructor with no I/O (connections open on first use), so a role that does not
use a part pays nothing for it, and each part has one typed field, read by name.

A new adapter module (an exchange, a channel kind, a payment gateway) exposes
``register(registry)``; :func:`build_registry` calls it, one line per module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from signalbridge.ai import registration as ai_providers
from signalbridge.channels import rss, telegram_bot, telegram_user, webhook, webpage
from signalbridge.channels.fetching import ChannelDeps
from signalbridge.execution.engine import ExecutionEngine
from signalbridge.execution.monitor import PositionMonitor
from signalbridge.execution.pool import AdapterPool
from signalbridge.integrations.http import HttpClientFactory
from signalbridge.integrations.kernel import Kernel
from signalbridge.integrations.queue import APPLY_UPDATE, DISPATCH_SIGNAL, TaskQueue, make_broker
from signalbridge.integrations.registry import AdapterRegistry
from signalbridge.integrations.vault import Vault
from signalbridge.payments import coinpayments, paypal
from signalbridge.payments import stripe as stripe_gateway
from signalbridge.services import entitlement
from signalbridge.services.ai_parsing import AI_PARSE, AiParsing, AiParts, wants_ai
from signalbridge.services.auth import TokenUsage
from signalbridge.services.channel_probe import ChannelProber
from signalbridge.services.health import Prober, health_writer, make_prober
from signalbridge.services.intake import Intake
from signalbridge.services.login import LoginThrottle
from signalbridge.services.payments.flow import PaymentFlow
from signalbridge.services.webhook_channels import FailureNotes, WebhookChannels
from signalbridge.settings import Settings
from signalbridge.store.db import make_engine, make_sessionmaker
from signalbridge.store.paper_book import SqlPaperStore
from signalbridge.venues.base import AdapterDeps
from signalbridge.venues.ccxt import registration as ccxt_adapter
from signalbridge.venues.ccxt.stream import CcxtPriceStreams
from signalbridge.venues.metaapi import adapter as metaapi
from signalbridge.venues.paper import registration as paper


def build_registry() -> AdapterRegistry:
    """The adapter types this build knows: each adapter module registers itself here."""
    registry = AdapterRegistry()
    webhook.register(registry)
    rss.register(registry)
    webpage.register(registry)
    telegram_bot.register(registry)
    telegram_user.register(registry)
    paper.register(registry)
    ccxt_adapter.register(registry)
    metaapi.register(registry)
    coinpayments.register(registry)
    paypal.register(registry)
    stripe_gateway.register(registry)
    ai_providers.register(registry)
    return registry


@dataclass(eq=False)
class Container:
    """Everything a process shares, one typed field per part.

    Storage and settings: ``settings``, ``engine`` (the database), ``sessions``, ``vault``.
    Outside world: ``metrics``, ``kernel`` (breakers, rate limits, health), ``http`` (the
    one HTTP client factory), ``registry`` (adapter types), ``adapter_deps`` and
    ``adapter_pool`` (live adapters per connection), ``prober`` (connection tests).
    Work: ``queue``, ``execution`` (the order engine), ``monitor`` (open positions),
    ``intake`` (every channel's messages in). Web: ``token_usage``, ``login_throttle``,
    ``webhook_channels``, ``webhook_failures``.
    """

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    vault: Vault
    queue: TaskQueue
    registry: AdapterRegistry
    metrics: CollectorRegistry
    kernel: Kernel
    http: HttpClientFactory
    adapter_deps: AdapterDeps
    adapter_pool: AdapterPool
    prober: Prober
    execution: ExecutionEngine
    monitor: PositionMonitor
    intake: Intake
    token_usage: TokenUsage
    login_throttle: LoginThrottle
    webhook_channels: WebhookChannels
    webhook_failures: FailureNotes
    #: the payment flow: live gateways per connection, callbacks stored once and applied
    payments: PaymentFlow
    #: the AI parse task after intake (services/ai_parsing.py)
    ai_parsing: AiParsing
    #: one ccxt.pro price stream per venue, read by the monitor (None: price_streams off)
    price_streams: CcxtPriceStreams | None = None

    async def close(self) -> None:
        if self.price_streams is not None:
            await self.price_streams.close()
        await self.adapter_pool.close()
        await self.payments.close()
        await self.queue.shutdown()
        await self.engine.dispose()


def build_container(settings: Settings, *, broker_url: str | None = None) -> Container:
    """Wire the object graph; cheap and synchronous (no I/O beyond the key file)."""
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # private when we create it
    engine = make_engine(settings.resolved_database_url)
    sessions = make_sessionmaker(engine)
    entitlement.configure(sessions, grace_days=settings.payments_grace_days)
    vault = Vault.from_settings(settings.secret_keys.get_secret_value(), settings.resolved_key_file)
    queue = TaskQueue(make_broker(broker_url or settings.broker_url, settings.broker_queue))
    registry = build_registry()
    metrics = CollectorRegistry()
    kernel = Kernel.from_settings(settings, metrics, health_writer(sessions))
    http = HttpClientFactory(registry=metrics, allowed_hosts=tuple(settings.allowed_hosts))
    deps = AdapterDeps(
        paper_store=partial(SqlPaperStore, sessions), http_factory=http, data_dir=settings.data_dir
    )
    pool = AdapterPool(sessions, vault, registry, deps, kernel.guard)
    execution = ExecutionEngine(sessions, pool, settle_seconds=settings.order_settle_seconds)
    grace = timedelta(seconds=settings.resting_grace_seconds)
    streams = (
        CcxtPriceStreams(
            http.ssrf_policy,
            stale_seconds=settings.price_stream_stale_seconds,
            idle_seconds=settings.price_stream_idle_seconds,
        )
        if settings.price_streams
        else None
    )
    intake = Intake(
        sessions,
        queue,
        dispatch_task=DISPATCH_SIGNAL,
        update_task=APPLY_UPDATE,
        ai_task=AI_PARSE,
        wants_ai=wants_ai,
    )
    ai_parts = AiParts(vault, http, kernel.guard, pool, settings.ai_daily_budget_usd)
    return Container(
        settings=settings,
        engine=engine,
        sessions=sessions,
        vault=vault,
        queue=queue,
        registry=registry,
        metrics=metrics,
        kernel=kernel,
        http=http,
        adapter_deps=deps,
        adapter_pool=pool,
        prober=make_prober(
            pool, channels=ChannelProber(sessions, registry, vault, ChannelDeps(http, kernel))
        ),
        execution=execution,
        monitor=PositionMonitor(sessions, pool, execution, resting_grace=grace, streams=streams),
        intake=intake,
        token_usage=TokenUsage(sessions),
        login_throttle=LoginThrottle(
            kernel.limiter.storage,  # Redis when configured, so every process shares counts
            per_account=settings.login_limit_per_account,
            per_address=settings.login_limit_per_address,
        ),
        webhook_channels=WebhookChannels(sessions, vault),
        webhook_failures=FailureNotes(kernel),
        payments=PaymentFlow.build(sessions, vault, registry, http, kernel.guard),
        ai_parsing=AiParsing(sessions, ai_parts, intake.hand_on),
        price_streams=streams,
    )
