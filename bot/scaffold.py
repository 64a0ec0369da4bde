"""`bot new NAME`: a new bot definition from the documented template."""

from __future__ import annotations

import re
from pathlib import Path

_TEMPLATES = Path(__file__).with_name("templates")


def scaffold_bot(name: str, parent: Path) -> Path:
    """Create `parent/<slug>/bot.yaml` and a knowledge folder; return the YAML path."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not slug:
        raise ValueError("the bot name needs at least one letter or digit")
    folder = parent / slug
    if folder.exists():
        raise FileExistsError(f"{folder} already exists")
    (folder / "knowledge").mkdir(parents=True)
    text = (_TEMPLATES / "bot.yaml").read_text(encoding="utf-8").format(display_name=name)
    (folder / "bot.yaml").write_text(text, encoding="utf-8")
    (folder / "knowledge" / "faq.md").write_text(
        (_TEMPLATES / "faq.md").read_text(encoding="utf-8"), encoding="utf-8")
    return folder / "bot.yaml"
