"""A paper replay feed reads only files inside the data directory: by the path's text when
the config is validated, symlinks resolved when the adapter is built (issue 11, part 6)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from signalbridge.integrations.errors import InvalidRequest
from signalbridge.venues.base import AdapterDeps
from signalbridge.venues.paper.adapter import PaperAdapter
from signalbridge.venues.paper.files import UnsafePath, confine, path_problem
from signalbridge.venues.paper.registration import PaperConfig

PRICES = "ts,symbol,price\n1,BTC/USDT,60000\n2,BTC/USDT,59000.123\n"
OUTSIDE_NAMES = [
    "/etc/passwd",
    "../../x",
    "..",
    "a/../../x",
    "feeds/../../secret.keys",
    "a\\..\\..\\x",
    "C:\\Windows\\win.ini",
    "C:x",
    "\\\\server\\share\\x",
    "//server/share/x",
    "~/prices.csv",
    "~root/x",
    "a\x00b",
    "",
    " ",
    "x" * 501,
]


@pytest.mark.parametrize("text", OUTSIDE_NAMES)
def test_paths_that_could_leave_the_data_directory_are_refused_by_their_text(text: str) -> None:
    assert path_problem(text) is not None
    with pytest.raises(ValidationError, match=r"feed\.path"):
        PaperConfig.model_validate({"feed": {"type": "replay", "path": text}})


@pytest.mark.parametrize("text", ["prices.csv", "feeds/p.csv", "./p.csv", "a..b.csv", "..x"])
def test_plain_relative_paths_are_accepted(text: str, tmp_path: Path) -> None:
    assert path_problem(text) is None
    assert confine(text, tmp_path) == (tmp_path / text).resolve()


def test_a_replay_feed_needs_a_path() -> None:
    with pytest.raises(ValidationError, match="needs a 'path'"):
        PaperConfig.model_validate({"feed": {"type": "replay"}})


def outside_file(tmp_path: Path) -> tuple[Path, Path]:
    """A data directory and, next to it, a file that is not a price file at all: had it
    been read, the error would quote its first bad line instead of refusing the path."""
    data = tmp_path / "data"
    data.mkdir()
    secret = tmp_path / "secret.keys"
    secret.write_text("ts,symbol,price\n1,BTC/USDT,not-a-price-but-a-secret\n")
    return data, secret


def test_a_symlink_out_of_the_data_directory_is_refused_when_resolved(tmp_path: Path) -> None:
    data, secret = outside_file(tmp_path)
    (data / "prices.csv").symlink_to(secret)
    (data / "sub").symlink_to(tmp_path)
    for name in ("prices.csv", "sub/secret.keys"):
        with pytest.raises(UnsafePath, match="outside the data directory"):
            confine(name, data)
        # the schema resolves it too when validation knows the data directory
        config = {"feed": {"type": "replay", "path": name}}
        PaperConfig.model_validate(config)  # by its text alone it looks fine
        with pytest.raises(ValidationError, match="outside the data directory"):
            PaperConfig.model_validate(config, context={"data_dir": data})
        # and the adapter refuses it whenever it is built, before anything is read
        with pytest.raises(InvalidRequest, match="outside the data directory") as caught:
            PaperAdapter.from_config("c", config, {}, deps=AdapterDeps(data_dir=data))
        assert "not-a-price" not in caught.value.message
    # A link that stays inside is just a name for a file in the data directory.
    (data / "real.csv").write_text(PRICES)
    (data / "alias.csv").symlink_to(data / "real.csv")
    assert confine("alias.csv", data) == (data / "real.csv").resolve()


async def test_the_adapter_reads_a_replay_file_inside_the_data_directory(tmp_path: Path) -> None:
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "p.csv").write_text(PRICES)
    config = {"futures": True, "feed": {"type": "replay", "path": "feeds/p.csv"}}
    adapter = PaperAdapter.from_config("c", config, {}, deps=AdapterDeps(data_dir=tmp_path))
    assert adapter.exchange.price("BTC/USDT") == 60000
    assert await adapter.exchange.advance() == {"BTC/USDT": Decimal("59000.12")}


def test_every_connection_is_checked_even_when_the_venue_exists(tmp_path: Path) -> None:
    data, secret = outside_file(tmp_path)
    (data / "escape.csv").symlink_to(secret)
    deps = AdapterDeps(data_dir=data)
    PaperAdapter.from_config("first", {}, {}, deps=deps)  # builds the shared venue
    with pytest.raises(InvalidRequest, match="outside the data directory"):
        PaperAdapter.from_config(
            "second", {"feed": {"type": "replay", "path": "escape.csv"}}, {}, deps=deps
        )


def test_missing_files_and_missing_data_directories_are_clear_refusals(tmp_path: Path) -> None:
    config = {"feed": {"type": "replay", "path": "nope.csv"}}
    with pytest.raises(InvalidRequest, match=r"'nope\.csv' is not a file"):
        PaperAdapter.from_config("c", config, {}, deps=AdapterDeps(data_dir=tmp_path))
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(InvalidRequest, match="is not a file"):
        PaperAdapter.from_config(
            "c",
            {"feed": {"type": "replay", "path": "dir.csv"}},
            {},
            deps=AdapterDeps(data_dir=tmp_path),
        )
    with pytest.raises(InvalidRequest, match="no data directory"):
        PaperAdapter.from_config("c", config, {}, deps=AdapterDeps())
    (tmp_path / "bad.csv").write_text("ts,symbol,price\n1,BTC/USDT,abc\n")
    with pytest.raises(InvalidRequest, match="line 2"):
        PaperAdapter.from_config(
            "c",
            {"feed": {"type": "replay", "path": "bad.csv"}},
            {},
            deps=AdapterDeps(data_dir=tmp_path),
        )
