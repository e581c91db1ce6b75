"""Rule-based signal parser: any provider's text to an exact Signal, SignalUpdate or Noise.

The package may also be present compiled (``make compile``, ``tools/compile_parser.py``):
its modules built by mypyc from the same source, and the tokeniser written in C. Python
prefers such builds to the ``.py`` files. They are used only while ``compiled.json``
holds the hash of every source as it is now. Otherwise (a source edited since, a partial
build, or ``SIGNALBRIDGE_PARSER=source`` in the environment) the sources run, so the
parser never executes stale machine code.

Importing this package does nothing: the choice is made by :func:`select_build`, which
entry points call before they import a parser module (``signalbridge parse`` does, and
the test suite's conftest), and which ``parsing.parse``, ``parsing.ParseResult`` and
:func:`compiled` call on first use. It raises when a module it would pass over was
already imported compiled, so a stale build is never used without a loud error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

    from signalbridge.parsing.engine import parse
    from signalbridge.parsing.result import ParseResult

_HERE = Path(__file__).resolve().parent
_selected = False  # whether select_build() has run in this process


class _SourcesFirst:
    """A meta path finder: this package's modules as their ``.py`` sources, passing over
    the builds (importlib is only loaded when a build must be passed over)."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in self.names:
            return None
        import importlib.util

        source = _HERE / (fullname.rpartition(".")[2] + ".py")
        if not source.exists():  # a C module has no Python source: its caller falls back
            raise ImportError(f"{fullname} is not used (stale build or sources asked for)")
        return importlib.util.spec_from_file_location(fullname, source)


def _stale_builds() -> list[str]:
    """The modules with a compiled build that must not be used (none when all match)."""
    built = sorted(p.name.partition(".")[0] for p in _HERE.glob("*.so"))
    if not built:
        return []
    import os

    if os.environ.get("SIGNALBRIDGE_PARSER") == "source":
        return built
    import hashlib
    import json

    try:
        recorded = json.loads((_HERE / "compiled.json").read_text())["sources"]
    except (OSError, ValueError, KeyError):
        recorded = {}
    for module in built:
        source = _HERE / f"{module}.py"
        if not source.exists():
            source = _HERE / f"{module}.c"  # a module written in C (the tokeniser)
        seen = hashlib.sha256(source.read_bytes()).hexdigest() if source.exists() else None
        if recorded.get(source.name) != seen:
            import warnings

            warnings.warn(
                "the compiled parser is older than its source; running the source "
                "(`make compile` rebuilds it)",
                RuntimeWarning,
                stacklevel=3,
            )
            return built
    return []


def select_build() -> None:
    """Choose once per process between the compiled parser and its sources.

    Call it before importing any parser module; later calls do nothing. A build that is
    stale (or passed over by ``SIGNALBRIDGE_PARSER=source``) is hidden behind a finder
    that loads the sources instead.
    """
    global _selected
    if _selected:
        return
    stale = frozenset(f"{__name__}.{m}" for m in _stale_builds())
    loaded = sorted(
        n
        for n in stale
        if not (getattr(sys.modules.get(n), "__file__", None) or ".py").endswith(".py")
    )
    if loaded:
        raise ImportError(
            f"{', '.join(loaded)} was imported compiled before select_build() chose the "
            "sources: call signalbridge.parsing.select_build() first"
        )
    if stale:
        sys.meta_path.insert(0, _SourcesFirst(stale))
    _selected = True


def compiled() -> bool:
    """Whether the parser runs as compiled code (for benchmarks and diagnostics)."""
    select_build()
    from signalbridge.parsing import engine

    return not (engine.__file__ or "").endswith(".py")


def __getattr__(name: str) -> Any:
    """``parse`` and ``ParseResult``, imported on first use, after :func:`select_build`
    (then kept as attributes, so later look-ups cost nothing)."""
    if name not in ("parse", "ParseResult"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    select_build()
    from signalbridge.parsing import engine, result

    globals().update(parse=engine.parse, ParseResult=result.ParseResult)
    return globals()[name]


__all__ = ["ParseResult", "compiled", "parse", "select_build"]
