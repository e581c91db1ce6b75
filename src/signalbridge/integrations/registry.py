"""Adapter registry keyed by (kind, type): a new exchange or channel is one module, no edits.

An adapter module calls :meth:`AdapterRegistry.register` (or uses the decorator) at import;
the composition root imports the adapter modules. Importing this module registers nothing.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_args

from pydantic import BaseModel, ValidationError

Kind = Literal["exchange", "channel", "payment", "ai"]
KINDS: tuple[str, ...] = get_args(Kind)

F = TypeVar("F", bound=Callable[..., Any])


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
        key = (kind, type_)
        existing = self._specs.get(key)
        if existing is not None and not replace and existing.factory is not factory:
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
            return spec.config_schema.model_validate(config)
        except ValidationError as exc:
            raise AdapterConfigError(kind, type_, _clear_errors(exc)) from None

    def __contains__(self, key: object) -> bool:
        return key in self._specs


def _clear_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Field path + message, without echoing the input (it may be a secret)."""
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "(root)", "message": err["msg"]}
        for err in exc.errors(include_input=False, include_url=False)
    ]


#: The application's registry; adapter modules register into it when imported.
adapters = AdapterRegistry()
