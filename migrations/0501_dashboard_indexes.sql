-- The dashboard reads by time range: messages, intents and handoffs by created_at.
CREATE INDEX IF NOT EXISTS messages_created ON app.messages (created_at);
CREATE INDEX IF NOT EXISTS intent_classifications_created ON app.intent_classifications (created_at);
CREATE INDEX IF NOT EXISTS handoffs_created ON app.handoffs (created_at);
