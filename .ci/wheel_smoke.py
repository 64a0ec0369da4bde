"""The built wheel works on its own: installed into a fresh virtual environment outside
the source tree, it migrates, serves (embedded PostgreSQL, no keys) and answers a web chat
turn; `bot new` makes a bot that `bot check` accepts and that answers its example intent
when started as `bot new` says; and the wheel holds the runtime only.

    python .ci/wheel_smoke.py            # builds the sdist and the wheel first

Standard library only, so it runs with any Python 3.11+.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: what the runtime reads besides Python modules (a missing one breaks an installed bot)
NEEDED = ["bot/db/migrations/0002_core_schema.sql",
          "bot/db/migrations/repeatable/service_role.sql", "adapters/web/static/index.html",
          "bot/admin/static/app.html", "bot/cli/templates/bot.yaml",
          "bot/intents/assets/minilm-tokenizer.json", "bot/safety/data/injection_model.npz"]
#: what stays in the source tree
NOT_SHIPPED = ("tests/", "bench/", "research/", "testing/", "bots/", "studio/")


def run(*cmd: str | Path, **kwargs: object) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)  # type: ignore[call-overload]


def check_contents(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    missing = [n for n in NEEDED if n not in names]
    extra = sorted({n.split("/")[0] + "/" for n in names if n.startswith(NOT_SHIPPED)})
    licence = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    assert not missing, f"the wheel lacks {missing}"
    assert not extra, f"the wheel ships {extra}"
    assert licence, "the wheel carries no LICENSE"
    print(f"wheel {wheel.name}: {wheel.stat().st_size / 1e6:.1f} MB, {len(names)} files")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(url: str, body: dict[str, object] | None = None) -> dict[str, object]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as response:
        return dict(json.loads(response.read()))


def serve_and_chat(bot: Path, env: dict[str, str], cwd: Path, text: str = "hello",
                   expect: str = "") -> None:
    port = free_port()
    server = subprocess.Popen([str(bot), "serve"], cwd=cwd,
                              env=env | {"PORT": str(port), "HOST": "127.0.0.1"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, "bot serve exited"
            try:
                health = request(f"{base}/healthz")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        print("healthz:", health)
        answer = request(f"{base}/api/chat", {"text": text})
        print("chat:", answer)
        reply = answer.get("reply")
        assert answer.get("status") == "answered", answer
        assert isinstance(reply, dict) and reply.get("text"), answer
        assert expect in str(reply["text"]), answer
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="wheel-smoke-"))
    try:
        print("+ python -m build", flush=True)
        built = subprocess.run([sys.executable, "-m", "build", "--outdir", str(work / "dist"),
                                str(ROOT)], check=True, capture_output=True, text=True)
        print(built.stdout[-2000:], built.stderr[-2000:])
        warned = [line for line in (built.stdout + built.stderr).splitlines()
                  if "deprecat" in line.lower()]
        assert not warned, f"building warns: {warned}"
        (wheel,) = (work / "dist").glob("*.whl")
        check_contents(wheel)
        run(sys.executable, "-m", "venv", work / "venv")
        pip = work / "venv" / "bin" / "pip"
        run(pip, "install", "-q", "--disable-pip-version-check", wheel)
        size = sum(f.stat().st_size for f in (work / "venv").rglob("*") if f.is_file())
        print(f"installed with its dependencies: {size / 1e6:.0f} MB")
        bot = work / "venv" / "bin" / "bot"
        home = work / "home"  # outside the source tree: nothing of the checkout in reach
        home.mkdir()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DATABASE_URL", "BOT_", "TWILIO_", "SLACK_", "ANTHROPIC_",
                                    "OPENAI_", "LLM_", "PYTHONPATH", "VIRTUAL_ENV"))}
        env |= {"DATA_DIR": str(home / ".data"), "LOG_JSON": "false"}
        run(bot, "--version", cwd=home, env=env)
        run(bot, "migrate", cwd=home, env=env)
        serve_and_chat(bot, env, home)
        # a bot of one's own: scaffolded, checked, then the command `bot new` printed
        made = subprocess.run([str(bot), "new", "Corner Bakery"], cwd=home, env=env,
                              check=True, capture_output=True, text=True).stdout
        print(made)
        command = next(line for line in made.splitlines() if "bot serve" in line)
        definition = command.split("BOT_DEFINITION=", 1)[1].split()[0]
        run(bot, "check", definition, cwd=home, env=env)
        serve_and_chat(bot, env | {"BOT_DEFINITION": definition}, home,
                       text="when do you open", expect="opening hours")
        print("wheel smoke test: passed")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
