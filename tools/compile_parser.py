"""Compile the signal parser with mypyc, in place: ``make compile`` (``make`` runs it).

The parser is plain, type-checked Python. mypyc turns the same source into C extension
modules, which Python imports in preference to the ``.py`` files beside them; the parse
results are the same, only faster (``bench/parse_speed.py``). Next to them this writes
``compiled.json``, the SHA-256 of every source it compiled: ``signalbridge.parsing``
imports the compiled modules only while every hash still matches, so an edited parser
never runs stale machine code (it runs its source until the next ``make compile``).

Usage: python tools/compile_parser.py [--clean]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "signalbridge" / "parsing"
MANIFEST = PACKAGE / "compiled.json"
BUILD = ROOT / "build" / "mypyc"
GROUP = "signalbridge_parser"  # the name of the shared library all modules link into
# Every module but the package's __init__, which decides whether the compiled modules
# may be used and so must stay plain Python; and the tokeniser, written in C.
MODULES = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
C_MODULES = sorted(p.name for p in PACKAGE.glob("*.c"))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def clean() -> None:
    """Remove every compiled artefact (the sources alone run again)."""
    MANIFEST.unlink(missing_ok=True)
    for lib in [*PACKAGE.glob("*.so"), *SRC.glob(f"{GROUP}__mypyc*.so")]:
        lib.unlink()
    shutil.rmtree(BUILD, ignore_errors=True)


def compile_parser() -> None:
    from mypyc.build import mypycify
    from setuptools import Extension, setup

    clean()
    sources = {name: digest(PACKAGE / name) for name in [*MODULES, *C_MODULES]}
    os.environ["MYPY_CACHE_DIR"] = str(BUILD / "mypy-cache")  # not in src/, see chdir
    os.chdir(SRC)  # module names follow from the paths, relative to the source root
    extensions = mypycify(
        [f"signalbridge/parsing/{name}" for name in MODULES],
        opt_level="3",
        group_name=GROUP,
        target_dir=str(BUILD / "c"),
    )
    extensions += [
        Extension(
            f"signalbridge.parsing.{name.removesuffix('.c')}",
            [f"signalbridge/parsing/{name}"],
            extra_compile_args=["-O2", "-Wall", "-Werror"],
        )
        for name in C_MODULES
    ]
    setup(
        name="signalbridge-parser",
        ext_modules=extensions,
        script_args=[
            *("--quiet", "build_ext", "--inplace"),
            *("--build-temp", str(BUILD / "o"), "--build-lib", str(BUILD / "lib")),
        ],
    )
    MANIFEST.write_text(json.dumps({"group": GROUP, "sources": sources}, indent=1) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clean", action="store_true", help="remove the compiled modules")
    args = ap.parse_args()
    if args.clean:
        clean()
        return 0
    compile_parser()
    built = len(MODULES) + len(C_MODULES)
    print(f"parser compiled: {built} modules ({MANIFEST.relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
