"""`bot serve` as a process: SIGTERM stops it as Ctrl-C does, with the embedded PostgreSQL
it started; client addresses come from the socket unless a proxy is trusted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bench.pgcluster import free_port
from testing import FIXTURE_BOT
from tests.conftest import ROOT


def _serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _serve(tmp_path: Path, port: int, **extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_URL", "TWILIO_", "SLACK_", "OPENAI_", "ANTHROPIC_"))}
    env.update(DATA_DIR=str(tmp_path / "data"), PORT=str(port), HOST="127.0.0.1",
               BOT_DEFINITION=str(FIXTURE_BOT), MODEL_CACHE_DIR=str(ROOT / ".data/test-models"),
               LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT), INJECTION_EMBEDDING="false", **extra)
    server = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], cwd=tmp_path, env=env)
    deadline = time.monotonic() + 180
    while not _serving(port):
        assert server.poll() is None, "bot serve exited at start"
        assert time.monotonic() < deadline, "bot serve did not start"
        time.sleep(0.5)
    return server


def _stop(server: subprocess.Popen[bytes], pid_file: Path,
          how: signal.Signals = signal.SIGINT) -> int:
    """Stop `bot serve` with `how`; its exit code, once its embedded PostgreSQL is gone
    (or 30 s have passed)."""
    server.send_signal(how)
    try:
        code = server.wait(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    deadline = time.monotonic() + 30
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    return code


@pytest.mark.timeout(240)
def test_a_forwarded_address_from_an_untrusted_peer_is_not_the_clients(tmp_path: Path) -> None:
    """uvicorn trusts X-Forwarded-For from 127.0.0.1 unless told otherwise: any process on
    the host could then pick a fresh rate-limit bucket per request."""
    port = free_port()
    server = _serve(tmp_path, port, RATE_LIMIT_IP="2/minute")
    codes = []
    try:
        for n in range(3):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/chat", data=b'{"text": "hi"}', method="POST",
                headers={"content-type": "application/json",
                         "x-forwarded-for": f"198.51.100.{n}"})
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    codes.append(answer.status)
            except urllib.error.HTTPError as refused:
                codes.append(refused.code)
    finally:
        _stop(server, tmp_path / "data" / "postgres" / "postmaster.pid")
    assert codes == [200, 200, 429]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_serve_stops_with_its_embedded_database(tmp_path: Path, stop: signal.Signals) -> None:
    server = _serve(tmp_path, free_port())
    pid_file = tmp_path / "data" / "postgres" / "postmaster.pid"
    assert pid_file.exists(), "the embedded PostgreSQL runs"
    assert _stop(server, pid_file, stop) == 0
    left_running = pid_file.exists()
    if left_running:  # stop it, so that a failure here leaves nothing behind
        os.kill(int(pid_file.read_text().splitlines()[0]), signal.SIGTERM)
    assert not left_running, "the embedded PostgreSQL was left running"
