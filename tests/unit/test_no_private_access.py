"""No test touches a private name (leading underscore) of project code or of a fake.

Tests drive the code under test through its public surface, and the fakes through their
public controls (``fail_next``, ``clear_faults``, ``set_order_status``, ...). A private
name is an implementation detail: a test that reaches into one breaks when the code is
reorganised without any change in behaviour, and hides a missing public control.

This scans every module under tests/ with :mod:`ast` and fails on:

- an attribute named ``_x`` read or written on anything but ``self``/``cls`` (a class
  using its own private state is fine);
- ``from signalbridge... import _x`` or ``from tests... import _x``, and importing a
  private module of either;
- ``getattr``/``setattr``/``hasattr``/``delattr`` and ``monkeypatch.setattr``/``delattr``
  with a private name, or a dotted target with a private part, spelled as a string.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("signalbridge", "tests")
PRIVATE = re.compile(r"^_(?!_)\w+$|^__\w+(?<!__)$")  # _x and __x, not __dunder__ nor "_"
# The public API of named tuples (collections.namedtuple) is spelled with an underscore.
NAMEDTUPLE_API = frozenset({"_replace", "_asdict", "_fields", "_make", "_field_defaults"})
REFLECTION = frozenset({"getattr", "setattr", "hasattr", "delattr"})
PATCHING = frozenset({"setattr", "delattr"})  # monkeypatch.setattr / mock.patch.object-like

#: (path under tests/, private name) -> why it may stay for now. Keep it short: every
#: entry is a debt with an owner. An entry no longer needed fails the test too.
ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True, order=True)
class Access:
    path: str
    line: int
    name: str
    how: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.how} {self.name}"


def _private(name: str) -> bool:
    return bool(PRIVATE.match(name)) and name not in NAMEDTUPLE_API


def _private_path(dotted: str) -> str | None:
    """The first private part of ``a.b._c`` (a project module path or attribute target)."""
    return next((part for part in dotted.split(".") if _private(part)), None)


def _own_module(module: str | None) -> bool:
    return module is not None and module.split(".")[0] in PROJECT_PACKAGES


def _string(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def private_accesses(source: str, path: str) -> list[Access]:
    """Every private name the module ``source`` touches from outside its owner."""
    found: list[Access] = []
    for node in ast.walk(ast.parse(source, path)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                found.append(Access(path, line, node.attr, f"attribute on {ast.unparse(owner)}"))
        elif isinstance(node, ast.ImportFrom) and _own_module(node.module):
            module = node.module or ""
            part = _private_path(module)
            if part is not None:
                found.append(Access(path, line, part, f"private module {module}"))
            for alias in node.names:
                if _private(alias.name):
                    found.append(Access(path, line, alias.name, f"import from {module}"))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                part = _private_path(alias.name) if _own_module(alias.name) else None
                if part is not None:
                    found.append(Access(path, line, part, f"private module {alias.name}"))
        elif isinstance(node, ast.Call):
            found.extend(_reflected(node, path, line))
    return found


def _reflected(call: ast.Call, path: str, line: int) -> list[Access]:
    """``getattr(x, "_y")``, ``monkeypatch.setattr(x, "_y", v)``, ``setattr("m._y", v)``."""
    func = call.func
    if isinstance(func, ast.Name) and func.id in REFLECTION and len(call.args) >= 2:
        name = _string(call.args[1])
        if name is not None and _private(name):
            return [Access(path, line, name, f"{func.id}()")]
        return []
    if isinstance(func, ast.Attribute) and func.attr in PATCHING:
        hits = []
        for arg in call.args[:2]:
            text = _string(arg)
            part = None if text is None else _private_path(text)
            if part is not None:
                hits.append(Access(path, line, part, f"{ast.unparse(func)}()"))
        return hits
    return []


def scan_tests() -> list[Access]:
    found: list[Access] = []
    for file in sorted(TESTS.rglob("*.py")):
        rel = file.relative_to(TESTS.parent).as_posix()
        found.extend(private_accesses(file.read_text(encoding="utf-8"), rel))
    return found


def test_no_test_touches_a_private_name() -> None:
    found = scan_tests()
    offending = [a for a in found if (a.path, a.name) not in ALLOWED]
    assert not offending, (
        "tests reach into private names; give the fake a public control, make the project "
        "name public, or test through the public surface:\n" + "\n".join(map(str, offending))
    )


def test_every_allowed_entry_is_still_needed() -> None:
    used = {(a.path, a.name) for a in scan_tests()}
    stale = sorted(key for key in ALLOWED if key not in used)
    assert not stale, f"remove these allow-list entries, nothing uses them any more: {stale}"


def test_the_scan_finds_each_kind_of_reach() -> None:
    source = """
from signalbridge.parsing.fields import _hoist, best_symbol
from signalbridge.parsing import _tokens
import signalbridge._private.mod
from tests.helpers import _config
from collections import _private_stdlib_name

class Helper:
    def __init__(self) -> None:
        self._own = 1
        cls_like = type(self)._counter

def test(fake, guard, monkeypatch, point):
    with fake._lock:
        fake._faults.clear()
    guard._on_health = print
    getattr(guard, "_on_health")
    monkeypatch.setattr(guard, "_on_health", print)
    monkeypatch.setattr("signalbridge.integrations.guard._translate", print)
    point._replace(x=1)
    fake.__dict__
    fake.__secret
    _ = fake.public
"""
    found = {(a.line, a.name) for a in private_accesses(source, "t.py")}
    assert found == {
        (2, "_hoist"),
        (3, "_tokens"),
        (4, "_private"),
        (5, "_config"),
        (11, "_counter"),
        (14, "_lock"),
        (15, "_faults"),
        (16, "_on_health"),
        (17, "_on_health"),
        (18, "_on_health"),
        (19, "_translate"),
        (22, "__secret"),
    }
