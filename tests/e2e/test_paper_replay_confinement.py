"""A paper connection's replay file must lie inside the data directory, through the API:
absolute paths and ``..`` are a 422 when saved, a symlink out of the data directory is
refused when the adapter is built (the connection test says so), nothing outside is read,
and a file inside works (issue 11, part 6)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.platform_fixtures import Harness

from signalbridge.venues.paper.exchange import PaperExchange

CANARY = "canary-line-that-must-never-be-read"


def replay(path: str) -> dict[str, Any]:
    return {"name": "replay", "type": "paper", "config": {"feed": {"type": "replay", "path": path}}}


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "../../x", "feeds/../../secret.keys", "..", "~/x", "C:\\x"]
)
async def test_paths_outside_the_data_directory_are_refused_at_save(
    harness: Harness, path: str
) -> None:
    response = await harness.api("POST", "/connections", json=replay(path))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_config"
    assert [e["field"] for e in error["details"]] == ["feed.path"]
    assert "data directory" in error["message"] or "'..'" in error["message"]
    assert "root:" not in response.text  # nothing of /etc/passwd was read
    assert (await harness.ok("GET", "/connections"))["items"] == []


async def test_a_file_inside_the_data_directory_feeds_the_venue(
    harness: Harness, tmp_path: Path
) -> None:
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "btc.csv").write_text(
        "ts,symbol,price\n1,BTC/USDT,61234.567\n2,BTC/USDT,61000\n"
    )
    made = await harness.ok("POST", "/connections", json=replay("feeds/btc.csv"))
    probe = await harness.ok("POST", f"/connections/{made['id']}/test")
    assert probe["ok"] is True, probe
    exchange = harness.container.adapter_deps.shared["paper"]
    assert isinstance(exchange, PaperExchange)
    assert exchange.price("BTC/USDT") == Decimal("61234.57")  # on the tick

    # Changing it to a path outside is refused as well, and the config stays as it was.
    changed = await harness.api(
        "PATCH",
        f"/connections/{made['id']}",
        json={"config": {"feed": {"type": "replay", "path": "/etc/passwd"}}},
    )
    assert changed.status_code == 422, changed.text
    kept = await harness.ok("GET", f"/connections/{made['id']}")
    assert kept["config"]["feed"]["path"] == "feeds/btc.csv"


async def test_a_symlink_out_of_the_data_directory_is_refused_when_built(
    harness: Harness, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside") / "secret.csv"
    outside.write_text(f"ts,symbol,price\n1,BTC/USDT,{CANARY}\n")
    (tmp_path / "escape.csv").symlink_to(outside)
    made = await harness.ok("POST", "/connections", json=replay("escape.csv"))
    response = await harness.api("POST", f"/connections/{made['id']}/test")
    assert response.status_code == 200, response.text
    probe = response.json()
    assert probe["ok"] is False and probe["error_class"] == "InvalidRequest"
    assert "outside the data directory" in probe["error"]
    assert CANARY not in response.text and str(outside) not in response.text
