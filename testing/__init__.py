"""Fakes of the services the bot talks to, for `tests/` and `bench/` (not installed).

Twilio's REST API (twilio_api), Slack's Web API and Socket Mode (slack_api), an
Anthropic- and OpenAI-compatible LLM provider (llm_server), LangSmith (langsmith_server),
intent models (classifiers), all served on loopback (loopback); throwaway databases
(database); a small bot definition (fixture_bot/). Where a fake refuses a call, it
answers as the real service does, with the source of the rule beside it.
"""

from pathlib import Path

#: a small bot definition for tests and benchmarks: one intent routed to the agent
FIXTURE_BOT = Path(__file__).resolve().parent / "fixture_bot" / "bot.yaml"
