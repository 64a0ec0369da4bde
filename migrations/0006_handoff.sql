-- Human handoff: one record per time a person takes over a conversation.
CREATE TABLE app.handoffs (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    contact_id        uuid NOT NULL REFERENCES app.contacts (id),
    conversation_id   uuid NOT NULL REFERENCES app.conversations (id),
    session_id        uuid REFERENCES app.sessions (id),
    status            text NOT NULL DEFAULT 'waiting'
                      CHECK (status IN ('waiting', 'claimed', 'resolved', 'returned')),
    trigger           text NOT NULL,
    reason            text NOT NULL DEFAULT '',
    summary           text NOT NULL DEFAULT '',
    intent            text,
    staff             text,
    console           jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    announced_at      timestamptz,
    claimed_at        timestamptz,
    resolved_at       timestamptz,
    reminded_at       timestamptz,
    user_notified_at  timestamptz
);
-- At most one open handoff per conversation.
CREATE UNIQUE INDEX handoffs_one_open ON app.handoffs (conversation_id)
    WHERE status IN ('waiting', 'claimed');
CREATE INDEX handoffs_contact ON app.handoffs (contact_id);
CREATE INDEX handoffs_open ON app.handoffs (created_at) WHERE status IN ('waiting', 'claimed');

ALTER TABLE app.handoffs ENABLE ROW LEVEL SECURITY;
ALTER TABLE app.handoffs FORCE ROW LEVEL SECURITY;
REVOKE ALL ON app.handoffs FROM PUBLIC, anon, authenticated, service_role;
DO $$
BEGIN
  EXECUTE format('CREATE POLICY owner_all ON app.handoffs TO %I USING (true) WITH CHECK (true)',
                 current_user);
END
$$;
CREATE POLICY self ON app.handoffs FOR ALL TO authenticated
    USING (contact_id = auth.uid()) WITH CHECK (contact_id = auth.uid());
GRANT SELECT, INSERT, UPDATE ON app.handoffs TO authenticated;

-- Staff replies are outbound messages written by a person.
ALTER TABLE app.messages ADD COLUMN author text;
