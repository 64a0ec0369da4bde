"""`search_knowledge`: the knowledge base as an agent tool; answers cite the source."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from bot.agent.tools import ToolContext, ToolRegistry
from bot.knowledge.render import source_title
from bot.knowledge.search import search_knowledge


class SearchKnowledgeInput(BaseModel):
    """A question to look up in the bot's knowledge base (FAQ, policies)."""

    query: str = Field(min_length=2, max_length=300)


def register_knowledge_tool(registry: ToolRegistry, results: int = 3) -> None:
    @registry.tool(side_effects=False, name="search_knowledge", title="our help pages")
    async def search(args: SearchKnowledgeInput, ctx: ToolContext) -> dict[str, Any]:
        """Find passages of the FAQ and policies that answer a question. Cite the source
        you used in the answer, like: (Source: Policies › Cancellation policy)."""
        async with ctx.unit_of_work() as conn:
            found = await search_knowledge(conn, args.query, k=results)
        return {"passages": [{"source": source_title(p), "text": p.content,
                              "score": round(p.score, 2)} for p in found.passages]}
