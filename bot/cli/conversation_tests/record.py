"""`bot test record CONVERSATION_ID`: a stored conversation as a conversation test.

The customer's messages become the steps (a tapped button by its title), the bot's
replies the expectations (its exact text and buttons, and the intent recognised). Staff
replies are left out; phone numbers, e-mail addresses and long digit runs in the
customer's words are masked, and no identity is written."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import yaml

from bot.db.pool import Database
from bot.models import OutboundReply
from bot.pii import mask_pii

_MESSAGES = """
SELECT i.id, i.text, i.payload,
       (SELECT c.intent FROM app.intent_classifications c WHERE c.message_id = i.id
         ORDER BY c.id DESC LIMIT 1) AS intent,
       (SELECT string_agg(o.text, E'\\n' ORDER BY o.reply_seq) FROM app.messages o
         WHERE o.reply_to = i.id AND o.direction = 'out' AND o.author IS NULL) AS reply,
       (SELECT o.rich FROM app.messages o WHERE o.reply_to = i.id AND o.direction = 'out'
          AND o.author IS NULL ORDER BY o.reply_seq DESC LIMIT 1) AS rich
  FROM app.messages i
 WHERE i.conversation_id = %s AND i.direction = 'in'
 ORDER BY i.id
"""


async def recorded_test(db: Database, conversation_id: UUID, name: str) -> str:
    """The conversation as a test file's YAML; empty when it has no customer message."""
    async with db.as_system() as conn:
        rows = await (await conn.execute(_MESSAGES, (conversation_id,))).fetchall()
    steps = [_step(row) for row in rows]
    if not steps:
        return ""
    return yaml.safe_dump({"tests": [{"name": name, "steps": steps}]}, sort_keys=False,
                          allow_unicode=True, width=100)


def _step(row: dict[str, Any]) -> dict[str, Any]:
    said = mask_pii(str(row["text"] or ""))
    step: dict[str, Any] = {"tap": said} if row["payload"] else {"say": said}
    expect: dict[str, Any] = {}
    if row["intent"]:
        expect["intent"] = row["intent"]
    if row["reply"] is not None:
        expect["reply"] = row["reply"]
    buttons = ([o.title for o in OutboundReply.model_validate(row["rich"]).options()]
               if row["rich"] else [])
    if buttons:
        expect["buttons"] = buttons
    step["expect"] = expect
    return step
