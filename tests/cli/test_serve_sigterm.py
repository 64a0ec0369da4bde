"""`bot serve` on SIGTERM stops as on Ctrl-C, and stops the embedded PostgreSQL it started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from testing import FIXTURE_BOT
from tests.conftest import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


@pytest.mark.timeout(240)
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_serve_stops_with_its_embedded_database(tmp_path: Path, stop: signal.Signals) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_URL", "TWILIO_", "SLACK_", "OPENAI_", "ANTHROPIC_"))}
    env.update(DATA_DIR=str(tmp_path / "data"), PORT=str(port), HOST="127.0.0.1",
               BOT_DEFINITION=str(FIXTURE_BOT), MODEL_CACHE_DIR=str(ROOT / ".data/test-models"),
               LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT), INJECTION_EMBEDDING="false")
    server = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], cwd=tmp_path, env=env)
    pid_file = tmp_path / "data" / "postgres" / "postmaster.pid"
    try:
        deadline = time.monotonic() + 180
        while not _serving(port):
            assert server.poll() is None, "bot serve exited at start"
            assert time.monotonic() < deadline, "bot serve did not start"
            time.sleep(0.5)
        assert pid_file.exists(), "the embedded PostgreSQL runs"
        server.send_signal(stop)
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            server.kill()
    deadline = time.monotonic() + 30
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    left_running = pid_file.exists()
    if left_running:  # stop it, so that a failure here leaves nothing behind
        os.kill(int(pid_file.read_text().splitlines()[0]), signal.SIGTERM)
    assert not left_running, "the embedded PostgreSQL was left running"
