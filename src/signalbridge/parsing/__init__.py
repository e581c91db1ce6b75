"""Rule-based signal parser: any provider's text to an exact Signal, SignalUpdate or Noise.

The package may also be present compiled (``make compile``, ``tools/compile_parser.py``):
its modules built by mypyc from the same source, and the tokeniser written in C. Python
prefers such builds to the ``.py`` files. They are used only while ``compiled.json``
holds the hash of every source as it is now. Otherwise (a source edited since, a partial
build, or ``SIGNALBRIDGE_PARSER=source`` in the environment) the sources run, so the
parser never executes stale machine code.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

_HERE = Path(__file__).resolve().parent


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
    if os.environ.get("SIGNALBRIDGE_PARSER") == "source":
        return built
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
            warnings.warn(
                "the compiled parser is older than its source; running the source "
                "(`make compile` rebuilds it)",
                RuntimeWarning,
                stacklevel=2,
            )
            return built
    return []


def compiled() -> bool:
    """Whether the parser runs as compiled code (for benchmarks and diagnostics)."""
    from signalbridge.parsing import engine

    return not (engine.__file__ or "").endswith(".py")


_stale = _stale_builds()
if _stale:
    sys.meta_path.insert(0, _SourcesFirst(frozenset(f"{__name__}.{m}" for m in _stale)))

from signalbridge.parsing.engine import parse  # noqa: E402  (after the choice above)
from signalbridge.parsing.result import ParseResult  # noqa: E402

__all__ = ["ParseResult", "compiled", "parse"]
