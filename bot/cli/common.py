"""What every family of sub-commands is given."""

from __future__ import annotations

from typing import Protocol

from bot.settings import Settings


class LoadSettings(Protocol):
    """The process's settings (with overrides), or an exit naming the configuration error."""

    def __call__(self, **overrides: object) -> Settings: ...
