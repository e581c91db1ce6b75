"""Adapter registry keyed by (kind, type): a new exchange or channel is one module, no edits.

Each adapter module exposes ``register(registry)``, which calls :meth:`AdapterRegistry.register`;
bootstrap makes the process's registry and calls each one. There is no global registry, and
importing an adapter module registers nothing.

A connection's config is stored in two parts: the public config (shown, diffed, audited) and
the secrets (sealed by the vault). :meth:`AdapterRegistry.split_config` is the one place that
splits them, and it unwraps pydantic's ``SecretStr``/``SecretBytes`` so the vault holds the
secret itself, never its ``**********`` display form.
"""

from __future__ import annotations

import builtins
import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_args, get_origin

from pydantic import BaseModel, Secret, SecretBytes, SecretStr, ValidationError

from signalbridge.domain.bounds import unstorable_decimals
from signalbridge.integrations.errors import InvalidRequest
from signalbridge.integrations.redaction import REDACTED

Kind = Literal["exchange", "channel", "payment", "ai"]
KINDS: tuple[str, ...] = get_args(Kind)

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)


class UnknownAdapterType(LookupError):
    """No adapter is registered for this (kind, type)."""

    def __init__(self, kind: str, type_: str, known: list[str]) -> None:
        listing = ", ".join(known) if known else "none"
        super().__init__(f"unknown {kind} type {type_!r}; known {kind} types: {listing}")
        self.kind = kind
        self.type = type_
        self.known = known


class AdapterConfigError(ValueError):
    """A connection's configuration does not fit its adapter's schema."""

    def __init__(self, kind: str, type_: str, errors: list[dict[str, str]]) -> None:
        lines = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        super().__init__(f"invalid {kind} {type_!r} configuration: {lines}")
        self.errors = errors


@dataclass(frozen=True)
class Deferred:
    """A factory named by its module and attribute, imported when first used.

    Registering costs nothing until a connection of that type is built: ccxt alone takes
    about a second to import, which every process start (CLI, worker, serve) would pay.
    Attributes (``from_config``, ``type``) are read from the loaded factory.
    """

    module: str
    name: str

    def load(self) -> Any:
        return getattr(importlib.import_module(self.module), self.name)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):  # copy, pickle and dataclass machinery: not the factory's
            raise AttributeError(attr)
        return getattr(self.load(), attr)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.load()(*args, **kwargs)


@dataclass(frozen=True)
class AdapterSpec:
    kind: str
    type: str
    factory: Callable[..., Any]
    config_schema: builtins.type[BaseModel]
    secret_fields: tuple[str, ...] = ()
    description: str = ""


@dataclass
class AdapterRegistry:
    _specs: dict[tuple[str, str], AdapterSpec] = field(default_factory=dict)

    def register(
        self,
        kind: str,
        type_: str,
        factory: Callable[..., Any],
        config_schema: type[BaseModel],
        secret_fields: tuple[str, ...] = (),
        *,
        description: str = "",
        replace: bool = False,
    ) -> AdapterSpec:
        if kind not in KINDS:
            raise ValueError(f"unknown adapter kind {kind!r}; kinds: {', '.join(KINDS)}")
        missing = [f for f in secret_fields if f not in config_schema.model_fields]
        if missing:
            raise ValueError(f"secret fields not in {config_schema.__name__}: {missing}")
        undeclared = _undeclared_secrets(config_schema, set(secret_fields))
        if undeclared:
            # Their values would be stored in the public config as ``**********``.
            raise ValueError(
                f"{config_schema.__name__} holds secret types outside secret_fields: {undeclared}"
            )
        key = (kind, type_)
        existing = self._specs.get(key)
        same = existing is not None and (existing.factory is factory or existing.factory == factory)
        if existing is not None and not replace and not same:
            raise ValueError(f"{kind} type {type_!r} is already registered")
        spec = AdapterSpec(kind, type_, factory, config_schema, tuple(secret_fields), description)
        self._specs[key] = spec
        return spec

    def adapter(
        self,
        kind: str,
        type_: str,
        config_schema: type[BaseModel],
        secret_fields: tuple[str, ...] = (),
        *,
        description: str = "",
    ) -> Callable[[F], F]:
        """Decorator form of :meth:`register` for a factory function or adapter class."""

        def decorate(factory: F) -> F:
            self.register(
                kind, type_, factory, config_schema, secret_fields, description=description
            )
            return factory

        return decorate

    def get(self, kind: str, type_: str) -> AdapterSpec:
        spec = self._specs.get((kind, type_))
        if spec is None:
            raise UnknownAdapterType(kind, type_, self.types(kind))
        return spec

    def types(self, kind: str) -> list[str]:
        return sorted(t for k, t in self._specs if k == kind)

    def specs(self, kind: str | None = None) -> list[AdapterSpec]:
        return [s for (k, _), s in sorted(self._specs.items()) if kind is None or k == kind]

    def validate_config(self, kind: str, type_: str, config: dict[str, Any]) -> BaseModel:
        spec = self.get(kind, type_)
        try:
            model = spec.config_schema.model_validate(config)
        except ValidationError as exc:
            raise AdapterConfigError(kind, type_, _clear_errors(exc)) from None
        unstorable = unstorable_decimals(model)  # balances, fees: they must fit NUMERIC(38, 18)
        if unstorable:
            errors = [{"field": where, "message": why} for where, why in unstorable]
            raise AdapterConfigError(kind, type_, errors)
        return model

    def split_config(
        self, kind: str, type_: str, config: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Validate ``config``; return (public config as JSON, secrets as plain text).

        Secret values are unwrapped (``SecretStr``, ``SecretBytes``, ``Secret[...]``), so
        what the vault seals is exactly what the caller sent. A secret that is a mask
        (``****``, ``****abcd``, ``**********``) is refused: it is a displayed value sent
        back, and storing it would lock the connection out without anyone noticing. A
        required secret left empty is refused too; an optional one left empty is not set.
        """
        spec = self.get(kind, type_)
        model = self.validate_config(kind, type_, config)
        public = model.model_dump(mode="json", exclude=set(spec.secret_fields))
        secrets: dict[str, str] = {}
        refused: list[dict[str, str]] = []
        for name in spec.secret_fields:
            value = _plain(getattr(model, name))
            if value is None or (not value and not _required(spec, name)):
                continue  # an optional secret left empty (a blank form field) is unset
            if not value:
                refused.append({"field": name, "message": "must not be empty"})
            elif _MASK_RE.fullmatch(value):
                refused.append({"field": name, "message": _MASKED_MESSAGE})
            secrets[name] = value
        if refused:
            raise AdapterConfigError(kind, type_, refused)
        return public, secrets

    def __contains__(self, key: object) -> bool:
        return key in self._specs


_MASK_RE = re.compile(re.escape(REDACTED) + r"\**.{0,4}", re.DOTALL)
_MASKED_MESSAGE = "is a masked placeholder, not the secret; send the real value"
_SECRET_TYPES: tuple[type[Any], ...] = (SecretStr, SecretBytes, Secret)


def _required(spec: AdapterSpec, name: str) -> bool:
    return spec.config_schema.model_fields[name].is_required()


def _plain(value: Any) -> str | None:
    """A secret field's value as the text the adapter needs (``None`` when not set)."""
    if isinstance(value, _SECRET_TYPES):
        value = value.get_secret_value()
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value if isinstance(value, str) else str(value)


def _undeclared_secrets(
    schema: type[BaseModel], declared: set[str], prefix: str = "", seen: set[type] | None = None
) -> list[str]:
    """Fields (dotted through nested models) typed as a secret but not in ``declared``."""
    seen = set() if seen is None else seen
    if schema in seen:
        return []
    seen.add(schema)
    found: list[str] = []
    for name, info in schema.model_fields.items():
        if not prefix and name in declared:
            continue
        path = prefix + name
        if _holds_secret(info.annotation):
            found.append(path)
        for model in _models_in(info.annotation):
            found += _undeclared_secrets(model, declared, path + ".", seen)
    return found


def _holds_secret(annotation: Any) -> bool:
    origin = get_origin(annotation) or annotation
    if isinstance(origin, type) and issubclass(origin, _SECRET_TYPES):
        return True
    return any(_holds_secret(arg) for arg in get_args(annotation))


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _clear_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Field path + message, without echoing the input (it may be a secret)."""
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "(root)", "message": err["msg"]}
        for err in exc.errors(include_input=False, include_url=False)
    ]


def connection_config(
    model: type[M],
    config: Mapping[str, Any],
    secrets: Mapping[str, str],
    *,
    vendor: str,
    connection_id: str,
) -> M:
    """A connection's public config and opened secrets, validated as ``model``.

    What an adapter's ``from_config`` starts with. A bad config raises
    :class:`~signalbridge.integrations.errors.InvalidRequest` naming the fields only: the
    values stay out of the message, for they may be secrets.
    """
    try:
        return model.model_validate({**config, **secrets})
    except ValidationError as exc:
        fields = ", ".join(
            ".".join(str(p) for p in err["loc"]) or "(root)"
            for err in exc.errors(include_input=False)
        )
        raise InvalidRequest(
            f"invalid {vendor} configuration ({fields})", connection_id=connection_id
        ) from None
