"""`.env.example` documents every setting."""

from __future__ import annotations

import re

from bot.settings import Settings
from tests.conftest import ROOT


def test_every_setting_is_documented() -> None:
    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.M))
    missing = {name.upper() for name in Settings.model_fields} - documented
    assert not missing, f"add to .env.example: {sorted(missing)}"
