"""``serve`` hands uvicorn ``proxy_headers=False``: left on, uvicorn lets any peer on
127.0.0.1 rewrite the client address from X-Forwarded-For, and a local process could pass
a webhook allow-list as a TradingView address. Only SIGNALBRIDGE_TRUSTED_PROXIES decides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn

from signalbridge.commands.run import serve


def test_serve_turns_uvicorns_forwarded_header_reading_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNALBRIDGE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SIGNALBRIDGE_DATABASE_URL", raising=False)
    calls: list[uvicorn.Config] = []

    def run(server: uvicorn.Server, sockets: Any = None) -> None:
        calls.append(server.config)

    monkeypatch.setattr(uvicorn.Server, "run", run)
    serve(host="127.0.0.1", port=8123, worker=True, scheduler=False, demo=False)
    assert len(calls) == 1
    assert calls[0].proxy_headers is False
    assert (calls[0].host, calls[0].port) == ("127.0.0.1", 8123)
