"""How a channel's messages are read and reviewed: settings set on create and update.

``POST /channels`` and ``PATCH /channels/{id}`` take them at the top level, beside
``name`` and ``config`` (``config`` is the adapter's own schema). Each is validated here,
so a bad value is a 422 that changes nothing, and a value is never dropped in silence:

- ``min_confidence`` (0 to 1): a parse below it waits in the review desk;
- ``parse_template``: the channel's template, checked by the parser's own loader;
- ``parse_text``: read free text at all (false: canonical JSON and the dialect only);
- ``dialect``: the one machine dialect the channel reads (``none``: any of them);
- ``max_signal_age_seconds``: an item in review older than this is refused on approval;
- ``on_edit`` (``apply``, ``ignore``, ``review``): what an edit of an executed signal's
  SL/TP does (services/edits.py);
- ``max_message_chars`` (100 to 100,000) and ``inbound_rate_limit`` (``"120/minute"``):
  the inbound limits of deliveries pushed to the channel (webhooks; services/
  inbound_limits.py). A longer message is refused and recorded, a delivery over the rate
  refused with 429. Kinds that carry these limits in their own config (RSS, web pages,
  Telegram) refuse them here with a 422 that says so: one place per limit;
- ``ai_assist``, ``ai_may_act_alone``, ``ai_max_price_distance_percent`` (0 to 100) and
  ``ai_analysis``: AI-assisted parsing and its guard rails (services/ai_parsing.py), the
  market analyst (services/ai_analysis.py);
- ``track_record_public``: the channel's track record (services/track_record.py) is open
  to anyone, not only to those who may read the channel (default false).

In a PATCH a field left out keeps its value; ``null`` clears ``parse_template``,
``max_signal_age_seconds``, ``dialect``, ``max_message_chars``, ``inbound_rate_limit``
and ``ai_max_price_distance_percent`` (null: the defaults).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from signalbridge.channels.inbound_limits import (
    MAX_MESSAGE_CHARS,
    MAX_RATE_TEXT,
    MIN_MESSAGE_CHARS,
    check_rate,
)
from signalbridge.domain.bounds import StoreDecimal
from signalbridge.execution.planner import MAX_SIGNAL_AGE_SECONDS
from signalbridge.services.channel_reading import DIALECTS
from signalbridge.store import models as m
from signalbridge.web.errors import ApiError
from signalbridge.web.serialize import jsonable

DialectName = Literal["none", "3commas", "pineconnector", "octobot"]
assert set(get_args(DialectName)) == {"none", *DIALECTS}  # one list of dialects

SETTINGS = (
    "min_confidence",
    "parse_template",
    "parse_text",
    "dialect",
    "max_signal_age_seconds",
    "on_edit",
    "max_message_chars",
    "inbound_rate_limit",
    "ai_assist",
    "ai_may_act_alone",
    "ai_max_price_distance_percent",
    "ai_analysis",
    "track_record_public",
)
#: Settings that take ``null`` to mean "none" (the others refuse it).
NULLABLE = (
    "parse_template",
    "dialect",
    "max_signal_age_seconds",
    "max_message_chars",
    "inbound_rate_limit",
    "ai_max_price_distance_percent",
)
#: The inbound limits; a kind whose config has them (``rate_limit``, ``max_message_chars``)
#: keeps them there.
LIMITS = {"max_message_chars": "max_message_chars", "inbound_rate_limit": "rate_limit"}


class ChannelSettingsFields(BaseModel):
    """The settings as optional top-level body fields; unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    min_confidence: Annotated[StoreDecimal, Field(ge=0, le=1)] | None = Field(
        default=None,
        description="Channels only: parses below this confidence (0-1, default 0.9) wait "
        "in the review desk",
    )
    parse_template: dict[str, Any] | None = Field(
        default=None, description="Channels only: the channel's parse template (null: none)"
    )
    parse_text: bool | None = Field(
        default=None,
        description="Channels only: read free text (default true); false reads canonical "
        "JSON and the channel's dialect only",
    )
    dialect: DialectName | None = Field(
        default=None,
        description="Channels only: the one machine dialect read ('none', default: any)",
    )
    max_signal_age_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_SIGNAL_AGE_SECONDS,
        description="Channels only: an item in review older than this is refused on approval "
        "(null: no channel limit)",
    )
    on_edit: Literal["apply", "ignore", "review"] | None = Field(
        default=None,
        description="Channels only: what an edit of a signal's SL/TP does once its orders "
        "were sent: 'apply' it to the positions, 'ignore' it, or send it to 'review' "
        "(default); the difference is recorded either way",
    )
    max_message_chars: int | None = Field(
        default=None,
        ge=MIN_MESSAGE_CHARS,
        le=MAX_MESSAGE_CHARS,
        description="Push channels only: a longer delivered message is refused and recorded "
        "as rejected (null: 4096); RSS, web-page and Telegram channels set "
        "config.max_message_chars",
    )
    inbound_rate_limit: str | None = Field(
        default=None,
        max_length=MAX_RATE_TEXT,
        description="Push channels only: deliveries taken, e.g. '120/minute'; more are "
        "refused with 429 and recorded (null: 120/minute); polled channels set "
        "config.rate_limit",
    )

    ai_assist: bool | None = Field(
        default=None,
        description="Channels only: ask the AI about messages the rules are unsure of "
        "(below min_confidence, rejected, unsure noise); default false",
    )
    ai_may_act_alone: bool | None = Field(
        default=None,
        description="Channels only: a signal only the AI read may execute without a "
        "human when its confidence reaches min_confidence and the guard rails pass "
        "(default false: it waits in review)",
    )
    ai_max_price_distance_percent: Annotated[StoreDecimal, Field(gt=0, le=100)] | None = Field(
        default=None,
        description="Channels only: how far (percent) an AI-read entry may lie from the "
        "current price for the AI to act (null: 5)",
    )
    ai_analysis: bool | None = Field(
        default=None,
        description="Channels only: ask the AI market analyst about each published "
        "signal (default false)",
    )
    track_record_public: bool | None = Field(
        default=None,
        description="Channels only: the channel's track record (every signal as posted and "
        "as a reference paper account executed it) is open to anyone (default false: to "
        "those who may read the channel)",
    )

    @field_validator("inbound_rate_limit")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        return None if value is None else check_rate(value, "inbound_rate_limit")


def given(body: ChannelSettingsFields) -> dict[str, Any]:
    """The settings the body sets, explicitly (``null`` included)."""
    return {name: getattr(body, name) for name in SETTINGS if name in body.model_fields_set}


def apply(row: Any, body: ChannelSettingsFields) -> dict[str, list[Any]]:
    """Validate the body's settings and set them on ``row``; ``{field: [old, new]}`` of
    what changed, for the audit. Raises a 422 :class:`ApiError` and changes nothing when
    one is not valid (or the row is not a channel)."""
    wanted = given(body)
    if not wanted:
        return {}
    if not isinstance(row, m.ChannelSource):
        raise ApiError(422, f"only a channel has the settings {', '.join(sorted(wanted))}")
    refused = sorted(k for k, v in wanted.items() if v is None and k not in NULLABLE)
    if refused:
        raise ApiError(422, f"{', '.join(refused)} cannot be null")
    if wanted.get("parse_template") is not None:
        _check_template(wanted["parse_template"])
    _check_limits(row, wanted)
    if "dialect" in wanted and wanted["dialect"] == "none":
        wanted["dialect"] = None
    changes: dict[str, list[Any]] = {}
    for name, value in wanted.items():
        old = getattr(row, name)
        if old != value:  # (decimals compare by value: 0.90 == 0.9)
            changes[name] = jsonable([old, value])
            setattr(row, name, value)
    return changes


def _check_limits(row: m.ChannelSource, wanted: dict[str, Any]) -> None:
    """A 422 when the channel's kind keeps an inbound limit in its own config."""
    config = row.config if isinstance(row.config, dict) else {}
    for name, own in LIMITS.items():
        if wanted.get(name) is not None and own in config:
            raise ApiError(
                422,
                f"a {row.type} channel sets this limit in its config ({own}), not as "
                f"the channel setting {name}",
                code="limit_in_config",
            )


def _check_template(spec: dict[str, Any]) -> None:
    from signalbridge.parsing import select_build

    select_build()
    from signalbridge.parsing.templates import template_from_dict

    try:
        template_from_dict(spec, default_name="channel")
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise ApiError(
            422, f"parse_template is not valid: {str(exc)[:300]}", code="invalid_template"
        ) from None
