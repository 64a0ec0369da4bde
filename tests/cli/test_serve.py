"""`bot serve` as a process: SIGTERM stops it as Ctrl-C does, with the embedded PostgreSQL
it started; client addresses come from the socket unless a proxy is trusted; `--reload`
picks up changes to the bot's folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.pgcluster import free_port
from bot.cli import main
from testing import FIXTURE_BOT
from tests.conftest import ROOT


def _serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _serve(tmp_path: Path, port: int, *options: str, **extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_URL", "TWILIO_", "SLACK_", "OPENAI_", "ANTHROPIC_"))}
    env.update({"DATA_DIR": str(tmp_path / "data"), "PORT": str(port), "HOST": "127.0.0.1",
                "BOT_DEFINITION": str(FIXTURE_BOT),
                "MODEL_CACHE_DIR": str(ROOT / ".data/test-models"), "LOG_LEVEL": "WARNING",
                "PYTHONPATH": str(ROOT), "INJECTION_EMBEDDING": "false", **extra})
    server = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", *options],
                              cwd=tmp_path, env=env)
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


def _ask(port: int, text: str) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/chat", data=json.dumps({"text": text}).encode(),
        method="POST", headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return str(json.load(answer)["reply"]["text"])


def _until(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except OSError:  # between two server processes
            pass
        time.sleep(0.5)
    return False


@pytest.mark.timeout(300)
def test_serve_reload_picks_up_the_plugin_and_the_definition(tmp_path: Path) -> None:
    assert main(["new", "Reload Bakery", "--dir", str(tmp_path / "bots")]) == 0
    folder = tmp_path / "bots" / "reload-bakery"
    port = free_port()
    server = _serve(tmp_path, port, "--reload", BOT_DEFINITION=str(folder / "bot.yaml"))
    try:
        assert "Monday 8:00-18:00" in _ask(port, "when do you open")
        plugin = folder / "reload_bakery" / "plugin.py"
        plugin.write_text(plugin.read_text().replace('"monday": "8:00-18:00"',
                                                     '"monday": "7:00-19:00"'))
        assert _until(lambda: "Monday 7:00-19:00" in _ask(port, "when do you open"), 90)
        definition = folder / "bot.yaml"
        definition.write_text(definition.read_text() + "welcome: Fresh bread since 6am!\n")
        assert _until(lambda: _ask(port, "hello") == "Fresh bread since 6am!", 90)
    finally:
        # the embedded PostgreSQL is the reloader's: it stops with it
        assert _stop(server, tmp_path / "data" / "postgres" / "postmaster.pid",
                     signal.SIGTERM) == 0
    assert not (tmp_path / "data" / "postgres" / "postmaster.pid").exists()
