"""The demo banner's two ways to send a signal work as printed: the signed curl (fresh at
start) and the `signalbridge send` command (signed anew each run)."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_banner_curl_and_send_command_deliver(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "SIGNALBRIDGE_DATA_DIR": str(tmp_path),
        "SIGNALBRIDGE_PORT": str(port),
        "SIGNALBRIDGE_LOG_LEVEL": "WARNING",
        "SIGNALBRIDGE_LOG_JSON": "false",
    }
    for name in ("SIGNALBRIDGE_SECRET_KEYS", "SIGNALBRIDGE_DATABASE_URL", "SIGNALBRIDGE_HOST"):
        env.pop(name, None)
    out = tmp_path / "serve.log"
    with out.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "signalbridge.cli", "serve", "--demo"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while "as a duplicate" not in out.read_text():
            assert server.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.2)
        banner = out.read_text()
        send_line = re.search(r"^ +(signalbridge send .+)$", banner, re.M)
        curl_line = re.search(r"^ +(curl .+)$", banner, re.M)
        assert send_line and curl_line, banner
        assert "--curl" in banner

        curl = subprocess.run(
            curl_line.group(1), shell=True, capture_output=True, text=True, timeout=60
        )
        first = json.loads(curl.stdout)
        assert first["status"] == "parsed" and first["duplicate"] is False, curl.stdout

        words = shlex.split(send_line.group(1))
        assert words[:2] == ["signalbridge", "send"]
        cli = [sys.executable, "-m", "signalbridge.cli", *words[1:]]
        sent = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        # the same body inside the window: the first delivery's answer, no second signal
        assert sent.stdout.startswith("200 OK")
        assert json.loads(sent.stdout.splitlines()[1])["signal_id"] == first["signal_id"]

        fresh = subprocess.run(
            [*cli, "--curl"], env=env, capture_output=True, text=True, timeout=60
        )
        assert fresh.returncode == 0 and fresh.stdout.startswith("curl "), fresh.stderr
        assert fresh.stdout.strip() != curl_line.group(1)  # a new time and delivery id
    finally:
        server.terminate()
        server.wait(timeout=20)
