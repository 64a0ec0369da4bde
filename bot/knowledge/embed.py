"""The optional embedding hook for vector similarity in knowledge search.

Off by default: search works on full text and trigrams alone. A sentence encoder
(for example the intent classifier's MiniLM) can be plugged in by implementing
`Embedder`; vectors are stored only where the server has pgvector.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Embedder(Protocol):
    """Turns texts into vectors of one fixed size; `name` is stored with each vector."""

    @property
    def name(self) -> str: ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


def vector_literal(values: Sequence[float]) -> str:
    """pgvector's text form, so no client-side adapter package is needed."""
    return "[" + ",".join(f"{v:.7g}" for v in values) + "]"
