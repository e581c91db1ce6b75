"""The vendored front-end files are the pinned npm releases, byte for byte, each with its
license: a hand-edited, truncated or half-upgraded file fails here (tools/vendor_assets.py)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from tools.vendor_assets import PINNED, ROOT, VERSIONS, check

FOLDERS = sorted({asset.folder for asset in PINNED})


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The committed vendored folders, copied to be spoiled."""
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def test_committed_files_match_versions_json() -> None:
    assert check() == []


def test_every_pinned_asset_is_recorded_with_a_license() -> None:
    for asset in PINNED:
        record = json.loads((ROOT / asset.folder / VERSIONS).read_text())
        (entry,) = [e for e in record["assets"] if e["target"] == asset.target]
        assert (entry["package"], entry["version"]) == (asset.package, asset.version)
        assert entry["license"] and entry["license_files"], asset.package
        for license_file in entry["license_files"]:
            assert (ROOT / asset.folder / license_file["target"]).stat().st_size > 0


def test_a_changed_byte_is_caught(copy: Path) -> None:
    asset = next(a for a in PINNED if a.target == "htmx.min.js")
    path = copy / asset.folder / asset.target
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))
    assert check(copy) == [f"{asset.folder / asset.target}: sha256 differs from {VERSIONS}"]


def test_a_missing_license_and_a_missing_file_are_caught(copy: Path) -> None:
    axe = next(a for a in PINNED if a.target == "axe.min.js")
    (copy / axe.folder / "axe-core.LICENSE").unlink()
    (copy / axe.folder / axe.target).unlink()
    assert sorted(check(copy)) == [
        f"{axe.folder / 'axe-core.LICENSE'}: missing",
        f"{axe.folder / axe.target}: missing",
    ]


def test_a_stray_file_in_a_vendor_folder_is_caught(copy: Path) -> None:
    folder = FOLDERS[0]
    (copy / folder / "jquery.min.js").write_text("/* not pinned */")
    assert check(copy) == [f"{folder / 'jquery.min.js'}: not vendored by this tool (remove it)"]


def test_a_pin_bumped_without_fetching_is_caught(copy: Path) -> None:
    bumped = tuple(replace(a, version="9.9.9") if a.package == "htmx.org" else a for a in PINNED)
    (problem,) = check(copy, bumped)
    assert "recorded htmx.org@2.0.11 but pinned htmx.org@9.9.9" in problem


@pytest.mark.parametrize("text", ["not json", '{"assets": [{"target": "htmx.min.js"}]}'])
def test_a_malformed_versions_file_is_reported_not_raised(copy: Path, text: str) -> None:
    folder = next(a.folder for a in PINNED if a.target == "htmx.min.js")
    (copy / folder / VERSIONS).write_text(text)
    (problem,) = check(copy)
    assert problem.startswith(f"{folder / VERSIONS}: malformed")
