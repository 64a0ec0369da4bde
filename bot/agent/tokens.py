"""Rough token counts for budgeting the prompt (cost always uses the provider's counts).

About four characters per token for English text. A real tokenizer (tiktoken)
was rejected: it downloads its encodings at first use, matches only OpenAI
models, and a budget needs a stable bound, not an exact count.
"""

from __future__ import annotations

from bot.agent.messages import Message, TextPart, ToolCall, ToolResult

_PER_MESSAGE = 4


def estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def message_tokens(message: Message) -> int:
    total = _PER_MESSAGE
    for part in message.parts:
        if isinstance(part, TextPart):
            total += estimate_tokens(part.text)
        elif isinstance(part, ToolCall):
            total += estimate_tokens(part.name + part.raw_arguments) + 8
        elif isinstance(part, ToolResult):
            total += estimate_tokens(part.content) + 8
    return total
