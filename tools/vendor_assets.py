"""Vendor the console's front-end files from the npm registry, pinned, without a build step.

Each pinned asset is one file taken from one exact npm package version (``npm pack``,
which checks the tarball's integrity), written beside its package's license text, and
recorded with its sha256 in the folder's ``VERSIONS.json``. ``--check`` verifies the
committed files against those records without any network, so a hand-edited or
corrupted vendored file fails CI (tests/unit/web/test_vendored_assets.py).

    python tools/vendor_assets.py            # fetch every pinned asset (needs npm)
    python tools/vendor_assets.py --check    # verify the committed files, offline
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATIC_VENDOR = Path("src/signalbridge/web/static/vendor")  # served to browsers
TEST_VENDOR = Path("tests/browser/vendor")  # only the browser tests load these
VERSIONS = "VERSIONS.json"


@dataclass(frozen=True)
class Asset:
    """One file of one exact npm package version, and where it goes."""

    package: str
    version: str
    file: str  # path inside the tarball's ``package/`` folder
    target: str  # file name in ``folder``
    folder: Path  # relative to the repository root
    license: str  # SPDX id (htmx-ext-sse's package.json names none; its LICENSE is 0BSD)
    license_files: tuple[str, ...] = ("LICENSE",)


PINNED: tuple[Asset, ...] = (
    Asset("htmx.org", "2.0.11", "dist/htmx.min.js", "htmx.min.js", STATIC_VENDOR, "0BSD"),
    Asset("htmx-ext-sse", "2.2.4", "dist/sse.min.js", "sse.min.js", STATIC_VENDOR, "0BSD"),
    Asset(
        "@picocss/pico",
        "2.1.1",
        "css/pico.min.css",
        "pico.min.css",
        STATIC_VENDOR,
        "MIT",
        ("LICENSE.md",),
    ),
    Asset(
        "lightweight-charts",
        "5.3.0",
        "dist/lightweight-charts.standalone.production.js",
        "lightweight-charts.standalone.production.js",
        STATIC_VENDOR,
        "Apache-2.0",
    ),
    Asset(
        "axe-core",
        "4.14.1",
        "axe.min.js",
        "axe.min.js",
        TEST_VENDOR,
        "MPL-2.0",
        ("LICENSE", "LICENSE-3RD-PARTY.txt"),
    ),
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def license_target(package: str, license_file: str) -> str:
    """``@picocss/pico`` + ``LICENSE.md`` -> ``picocss-pico.LICENSE.md``: one folder, no clash."""
    return f"{package.lstrip('@').replace('/', '-')}.{Path(license_file).name}"


def read_records(folder: Path) -> dict[str, dict[str, object]]:
    """The folder's VERSIONS.json entries by target name (empty when there is none yet)."""
    path = folder / VERSIONS
    if not path.exists():
        return {}
    entries = json.loads(path.read_text())["assets"]
    return {str(e["target"]): e for e in entries}


def check(root: Path = ROOT, pinned: tuple[Asset, ...] = PINNED) -> list[str]:
    """Every problem with the committed vendored files; empty when all is as pinned.

    Offline: each pinned asset must be recorded at its pinned version, and every recorded
    file (asset and license texts) must be present with the recorded sha256.
    """
    problems: list[str] = []
    for folder in sorted({a.folder for a in pinned}):
        try:
            problems += check_folder(root, folder, [a for a in pinned if a.folder == folder])
        except (KeyError, TypeError, ValueError) as exc:  # ValueError: bad JSON too
            problems.append(f"{folder / VERSIONS}: malformed ({exc!r})")
    return problems


def check_folder(root: Path, folder: Path, pinned: list[Asset]) -> list[str]:
    """One vendor folder's problems; a file this tool did not put there is one too."""
    records = read_records(root / folder)
    if not records:
        return [f"{folder / VERSIONS}: missing or empty"]
    wanted = {a.target: a for a in pinned}
    known = {VERSIONS}
    problems = [
        f"{folder / t}: recorded but not pinned" for t in sorted(set(records) - set(wanted))
    ]
    for target, asset in sorted(wanted.items()):
        record = records.get(target)
        if record is None:
            problems.append(f"{folder / target}: pinned but not recorded (run the tool)")
            continue
        if (record["package"], record["version"], record["file"]) != (
            asset.package,
            asset.version,
            asset.file,
        ):
            problems.append(
                f"{folder / target}: recorded {record['package']}@{record['version']}"
                f" but pinned {asset.package}@{asset.version} (run the tool)"
            )
        files = [(target, str(record["sha256"]))]
        licenses = record.get("license_files")
        if not isinstance(licenses, list) or not licenses:
            problems.append(f"{folder / target}: no license recorded")
            licenses = []
        files += [(str(lf["target"]), str(lf["sha256"])) for lf in licenses]
        for name, digest in files:
            path = root / folder / name
            if not path.is_file():
                problems.append(f"{folder / name}: missing")
            elif sha256(path) != digest:
                problems.append(f"{folder / name}: sha256 differs from {VERSIONS}")
        known.update(name for name, _ in files)
    for path in sorted((root / folder).iterdir()):
        if path.name not in known:
            problems.append(f"{folder / path.name}: not vendored by this tool (remove it)")
    return problems


def npm_pack(package: str, version: str, into: Path) -> tuple[Path, str]:
    """Download ``package@version``'s tarball into ``into``; its path and npm integrity."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed to fetch the assets (--check works without it)")
    out = subprocess.run(  # noqa: S603 (npm from PATH, arguments from the pinned table)
        [npm, "pack", f"{package}@{version}", "--json", "--pack-destination", str(into)],
        cwd=into,
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(out.stdout)[0]
    if info["version"] != version:
        raise SystemExit(f"{package}: npm gave {info['version']}, pinned {version}")
    return into / info["filename"], str(info["integrity"])


def extract(tarball: Path, member: str, dest: Path) -> str:
    """Write the tarball's ``package/<member>`` to ``dest``; its sha256."""
    with tarfile.open(tarball, "r:gz") as tar:
        source = tar.extractfile(f"package/{member}")
        if source is None:
            raise SystemExit(f"{tarball.name}: {member} is not a regular file")
        data = source.read()
    dest.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def fetch(root: Path = ROOT, pinned: tuple[Asset, ...] = PINNED) -> None:
    """Fetch every pinned asset and rewrite the VERSIONS.json files.

    An asset already recorded at the same version must come back byte for byte the same:
    a registry that serves other bytes under a published version is refused.
    """
    for folder in sorted({a.folder for a in pinned}):
        (root / folder).mkdir(parents=True, exist_ok=True)
        old = read_records(root / folder)
        entries: list[dict[str, object]] = []
        with tempfile.TemporaryDirectory() as tmp:
            for asset in (a for a in pinned if a.folder == folder):
                tarball, integrity = npm_pack(asset.package, asset.version, Path(tmp))
                digest = extract(tarball, asset.file, root / folder / asset.target)
                previous = old.get(asset.target)
                if (
                    previous is not None
                    and previous["version"] == asset.version
                    and previous["sha256"] != digest
                ):
                    raise SystemExit(f"{asset.package}@{asset.version}: sha256 changed upstream")
                licenses = []
                for license_file in asset.license_files:
                    name = license_target(asset.package, license_file)
                    lic = extract(tarball, license_file, root / folder / name)
                    licenses.append({"file": license_file, "target": name, "sha256": lic})
                entries.append(
                    {
                        "package": asset.package,
                        "version": asset.version,
                        "file": asset.file,
                        "target": asset.target,
                        "sha256": digest,
                        "bytes": (root / folder / asset.target).stat().st_size,
                        "license": asset.license,
                        "license_files": licenses,
                        "tarball_integrity": integrity,
                    }
                )
                print(f"{asset.package}@{asset.version} -> {folder / asset.target}")
        text = json.dumps({"assets": entries}, indent=2) + "\n"
        (root / folder / VERSIONS).write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="verify the committed files offline, fetch nothing"
    )
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for problem in problems:
            print(problem, file=sys.stderr)
        if not problems:
            print(f"{len(PINNED)} vendored assets match {VERSIONS}")
        return 1 if problems else 0
    fetch()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
