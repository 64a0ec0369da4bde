"""Debian's chromium for Playwright: found, installed once when missing, else a clear skip.

Playwright's own browser download cannot work without its CDN, so the tests
drive the distribution's package (`apt-get install -y chromium`) instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]


def ensure_chromium() -> str | None:
    """The chromium path, installing the package when possible; None with a reason logged."""
    if CHROMIUM.exists():
        return None
    if os.environ.get("BOT_TEST_NO_APT"):
        return "chromium is not installed and BOT_TEST_NO_APT forbids installing it"
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return "chromium is not installed and apt-get (as root) is not available to install it"
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if done.returncode != 0:
            return f"installing chromium failed: {' '.join(cmd)}: {done.stderr.strip()[-300:]}"
    return None if CHROMIUM.exists() else "apt-get installed no /usr/bin/chromium"
