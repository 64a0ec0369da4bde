"""Benchmark: prompt size of the agent over a 50-turn conversation.

Runs 50 real turns (real PostgreSQL, real history builder, rolling summary and
prompt) against an in-process model that reports the size of each request it
receives, and prints the prompt tokens of the answering call per turn. Target:
turn 50 ≤ 2 × turn 5.

    .venv/bin/python bench/agent_prompt_growth.py [--turns 50]

Uses DATABASE_URL, or the embedded server in .data/bench-postgres. Token counts
are the project's estimator (about 4 characters per token) applied to the exact
request sent; the ratio is what the benchmark is about.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.agent.budget import ModelTier  # noqa: E402
from bot.agent.messages import LLMRequest, LLMResponse, OnText, Usage  # noqa: E402
from bot.agent.service import AgentServices  # noqa: E402
from bot.agent.tokens import estimate_tokens, message_tokens  # noqa: E402
from bot.db import messages  # noqa: E402
from bot.db.conversations import open_session  # noqa: E402
from bot.db.pool import Database  # noqa: E402
from bot.intents.contract import Classification  # noqa: E402
from bot.models import InboundMessage  # noqa: E402
from bot.routing.responder import TurnContext  # noqa: E402
from bot.settings import Settings  # noqa: E402

WORDS = ["order", "lamp", "delivery", "invoice", "warranty", "colour", "address", "return",
         "size", "price", "shipping", "weekend", "store", "refund", "model", "cable", "bulb",
         "dimmer", "kitchen", "office"]


def create_database(server_url: str) -> str:
    import secrets

    import psycopg
    from psycopg.conninfo import make_conninfo

    name = "bot_bench_" + secrets.token_hex(4)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_conninfo(server_url, dbname=name)


def drop_database(server_url: str, conninfo: str) -> None:
    import psycopg

    name = psycopg.conninfo.conninfo_to_dict(conninfo)["dbname"]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


class MeasuringModel:
    """Answers like a chatty model and reports the size of what it was sent."""

    name = "bench"

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.answer_prompts: list[int] = []

    def model_for(self, tier: ModelTier) -> str:
        return "bench-model"

    async def complete(self, request: LLMRequest, on_text: OnText | None) -> LLMResponse:
        prompt = (estimate_tokens(request.system)
                  + sum(message_tokens(m) for m in request.messages)
                  + sum(estimate_tokens(t.model_dump_json()) for t in request.tools))
        if request.system.startswith("You keep a short running summary"):
            text = sentence(self.rng, 120)  # a summary near its cap
        else:
            self.answer_prompts.append(prompt)
            text = sentence(self.rng, self.rng.randint(40, 90))
        return LLMResponse(model="bench-model", text=text,
                           usage=Usage(input_tokens=prompt, output_tokens=estimate_tokens(text)))

    async def aclose(self) -> None:
        return None


async def run(turns: int, conninfo: str) -> list[int]:
    settings = Settings(_env_file=None, database_url=conninfo,  # type: ignore[call-arg]
                        llm_daily_cost_cap_usd=0, llm_user_daily_token_budget=0)
    db = Database(conninfo, settings)
    await db.open()
    rng = random.Random(7)
    model = MeasuringModel(rng)
    agent = AgentServices(settings, db, model, registry=CollectorRegistry())
    responder = agent.responder()
    sender = "bench-" + uuid4().hex[:8]
    try:
        for _ in range(turns):
            inbound = InboundMessage(channel="web", external_id=uuid4().hex, sender_id=sender,
                                     conversation_key="bench-" + sender,
                                     text=sentence(rng, rng.randint(10, 40)))
            (stored,) = await messages.ingest(db, [(inbound, "bench")])
            async with db.as_user(stored.contact_id) as conn:
                session = await open_session(conn, conversation_id=stored.conversation_id,
                                             contact_id=stored.contact_id,
                                             at=inbound.received_at,
                                             inactivity=timedelta(hours=7))
            batch = await messages.read_unanswered(db, stored.contact_id,
                                                   stored.conversation_id)
            turn = TurnContext(contact_id=stored.contact_id,
                               conversation_id=stored.conversation_id, channel="web",
                               message_ids=[m.id for m in batch], text=inbound.text,
                               payload=None, session=session,
                               classification=Classification("question", 1.0, "bench"))

            async def ignore(event: str, data: dict[str, object]) -> None:
                return None
            reply = await responder.respond(turn, ignore)  # type: ignore[arg-type]
            async with db.as_user(stored.contact_id) as conn:
                await messages.save_reply(conn, inbound=batch, session_id=session.id,
                                          reply=reply)
    finally:
        await db.close()
    return model.answer_prompts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=50)
    args = parser.parse_args()
    from bot.db.embedded import start_embedded
    from bot.db.migrate import apply_migrations

    server = os.environ.get("DATABASE_URL") or start_embedded(ROOT / ".data/bench-postgres")
    conninfo = create_database(server)
    try:
        asyncio.run(apply_migrations(conninfo))
        prompts = asyncio.run(run(args.turns, conninfo))
    finally:
        drop_database(server, conninfo)
    for number, tokens in enumerate(prompts, start=1):
        print(f"turn {number:3d}  prompt tokens {tokens}")
    t5, last = prompts[4], prompts[-1]
    print(f"\nturn 5: {t5}  turn {len(prompts)}: {last}  ratio {last / t5:.2f} (target ≤ 2.00)"
          f"  max {max(prompts)}")


if __name__ == "__main__":
    main()
