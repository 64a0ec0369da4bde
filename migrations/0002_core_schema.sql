-- Core tables. They live in their own schema `app` so a Supabase project does not
-- expose them through its REST API and its default grants on `public` do not apply.
CREATE SCHEMA IF NOT EXISTS app;
GRANT USAGE ON SCHEMA app TO authenticated, service_role;

CREATE TABLE app.contacts (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    display_name    text,
    opted_out       boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_inbound_at timestamptz
);

-- One person can be reached on several channels; each identity points at one contact.
CREATE TABLE app.channel_identities (
    channel     text NOT NULL,
    external_id text NOT NULL,
    contact_id  uuid NOT NULL REFERENCES app.contacts (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, external_id)
);
CREATE INDEX channel_identities_contact ON app.channel_identities (contact_id);

-- A conversation is the unit of ordering: a WhatsApp chat, a Slack thread or DM, a web chat.
CREATE TABLE app.conversations (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    contact_id       uuid NOT NULL REFERENCES app.contacts (id),
    channel          text NOT NULL,
    conversation_key text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel, conversation_key)
);
CREATE INDEX conversations_contact ON app.conversations (contact_id);

-- A session is a stretch of a conversation; a new one starts after a period of inactivity.
CREATE TABLE app.sessions (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id  uuid NOT NULL REFERENCES app.conversations (id),
    contact_id       uuid NOT NULL REFERENCES app.contacts (id),
    status           text NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'escalated', 'closed')),
    summary          text NOT NULL DEFAULT '',
    inbound_count    integer NOT NULL DEFAULT 0,
    outbound_count   integer NOT NULL DEFAULT 0,
    unhelpful_streak integer NOT NULL DEFAULT 0,
    started_at       timestamptz NOT NULL DEFAULT now(),
    last_activity_at timestamptz NOT NULL DEFAULT now(),
    closed_at        timestamptz,
    close_reason     text
);
CREATE UNIQUE INDEX sessions_one_open ON app.sessions (conversation_id) WHERE status <> 'closed';
CREATE INDEX sessions_contact ON app.sessions (contact_id);

CREATE TABLE app.messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id      uuid NOT NULL REFERENCES app.contacts (id),
    conversation_id uuid NOT NULL REFERENCES app.conversations (id),
    session_id      uuid REFERENCES app.sessions (id),
    direction       text NOT NULL CHECK (direction IN ('in', 'out')),
    channel         text NOT NULL,
    external_id     text,
    reply_to        bigint REFERENCES app.messages (id),
    reply_seq       smallint NOT NULL DEFAULT 0,
    text            text NOT NULL DEFAULT '',
    payload         text,
    media           jsonb NOT NULL DEFAULT '[]',
    rich            jsonb,
    raw             jsonb,
    status          text NOT NULL,
    error           text,
    attempts        integer NOT NULL DEFAULT 0,
    trace_id        text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (direction = 'out' OR external_id IS NOT NULL),
    CHECK (status IN ('received', 'answered', 'skipped', 'failed', 'relayed',
                      'pending', 'sending', 'sent', 'delivered', 'read', 'undelivered'))
);
-- Platforms retry webhooks: an inbound message is stored once per (channel, platform id).
CREATE UNIQUE INDEX messages_inbound_once ON app.messages (channel, external_id) WHERE direction = 'in';
-- A reply is keyed to the inbound message it answers, so a re-run turn cannot answer twice.
CREATE UNIQUE INDEX messages_reply_once ON app.messages (reply_to, reply_seq) WHERE direction = 'out';
CREATE INDEX messages_conversation ON app.messages (conversation_id, id);
CREATE INDEX messages_unanswered ON app.messages (conversation_id, id)
    WHERE direction = 'in' AND status = 'received';
CREATE INDEX messages_undelivered ON app.messages (conversation_id, id)
    WHERE direction = 'out' AND status IN ('pending', 'sending');
CREATE INDEX messages_contact ON app.messages (contact_id);

CREATE TABLE app.user_context (
    contact_id uuid NOT NULL REFERENCES app.contacts (id),
    key        text NOT NULL,
    value      jsonb NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('preference', 'fact', 'entity', 'state')),
    expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (contact_id, key)
);

CREATE TABLE app.intent_classifications (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id   uuid NOT NULL REFERENCES app.contacts (id),
    message_id   bigint NOT NULL REFERENCES app.messages (id),
    intent       text NOT NULL,
    confidence   real NOT NULL,
    method       text NOT NULL,
    alternatives jsonb NOT NULL DEFAULT '[]',
    latency_ms   real NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX intent_classifications_message ON app.intent_classifications (message_id);
CREATE INDEX intent_classifications_contact ON app.intent_classifications (contact_id);

-- Append-only: the application may insert, never read back, change or delete.
CREATE TABLE app.audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id uuid,
    actor      text NOT NULL,
    action     text NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
