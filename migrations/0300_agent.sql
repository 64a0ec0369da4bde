-- The tool-calling agent: tool calls (with idempotency keys), LLM calls (tokens and
-- cost), usage views, and where the rolling summary of a session has got to.

CREATE TABLE app.tool_calls (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id      uuid NOT NULL REFERENCES app.contacts (id),
    conversation_id uuid NOT NULL REFERENCES app.conversations (id),
    session_id      uuid REFERENCES app.sessions (id),
    message_id      bigint NOT NULL REFERENCES app.messages (id),
    tool            text NOT NULL,
    arguments       jsonb NOT NULL DEFAULT '{}',
    side_effects    boolean NOT NULL,
    idempotency_key text NOT NULL,
    status          text NOT NULL CHECK (status IN ('ok', 'error', 'invalid', 'unavailable', 'timeout')),
    result          text,
    error           text,
    attempts        integer NOT NULL DEFAULT 1,
    latency_ms      real NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- A side effect happens once per key: a re-run turn finds the stored result instead.
CREATE UNIQUE INDEX tool_calls_once ON app.tool_calls (idempotency_key)
    WHERE status = 'ok' AND side_effects;
CREATE INDEX tool_calls_session ON app.tool_calls (session_id);
CREATE INDEX tool_calls_contact ON app.tool_calls (contact_id);

CREATE TABLE app.llm_calls (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id          uuid NOT NULL REFERENCES app.contacts (id),
    conversation_id     uuid REFERENCES app.conversations (id),
    session_id          uuid REFERENCES app.sessions (id),
    message_id          bigint REFERENCES app.messages (id),
    purpose             text NOT NULL DEFAULT 'answer' CHECK (purpose IN ('answer', 'summary')),
    provider            text NOT NULL,
    model               text NOT NULL,
    input_tokens        integer NOT NULL DEFAULT 0,
    output_tokens       integer NOT NULL DEFAULT 0,
    cached_input_tokens integer NOT NULL DEFAULT 0,
    usage_reported      boolean NOT NULL DEFAULT true,
    cost_usd            numeric(14, 8) NOT NULL DEFAULT 0,
    latency_ms          real NOT NULL DEFAULT 0,
    status              text NOT NULL CHECK (status IN ('ok', 'error')),
    error               text,
    created_at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX llm_calls_contact_time ON app.llm_calls (contact_id, created_at);
CREATE INDEX llm_calls_time ON app.llm_calls (created_at);
CREATE INDEX llm_calls_message ON app.llm_calls (message_id);
CREATE INDEX llm_calls_session ON app.llm_calls (session_id);

-- Messages up to this id are folded into sessions.summary.
ALTER TABLE app.sessions ADD COLUMN summary_through bigint;

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['tool_calls', 'llm_calls']
  LOOP
    EXECUTE format('ALTER TABLE app.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE app.%I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('REVOKE ALL ON app.%I FROM PUBLIC, anon, authenticated, service_role', t);
    EXECUTE format('CREATE POLICY owner_all ON app.%I TO %I USING (true) WITH CHECK (true)',
                   t, current_user);
    EXECUTE format(
      'CREATE POLICY self ON app.%I FOR ALL TO authenticated '
      'USING (contact_id = auth.uid()) WITH CHECK (contact_id = auth.uid())', t);
  END LOOP;
END
$$;

GRANT SELECT, INSERT ON app.tool_calls, app.llm_calls TO authenticated;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA app TO authenticated;

-- Usage aggregates for operators (the owning role and service_role). They are not
-- granted to `authenticated`: views run with their owner's rights, and
-- security_invoker views need PostgreSQL 15 while we support 14.
CREATE VIEW app.llm_usage_by_turn AS
  SELECT message_id, contact_id, session_id, count(*) AS calls,
         sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
         sum(cost_usd) AS cost_usd
    FROM app.llm_calls GROUP BY message_id, contact_id, session_id;

CREATE VIEW app.llm_usage_by_session AS
  SELECT session_id, contact_id, count(*) AS calls,
         sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
         sum(cost_usd) AS cost_usd
    FROM app.llm_calls GROUP BY session_id, contact_id;

CREATE VIEW app.llm_usage_daily AS
  SELECT (created_at AT TIME ZONE 'UTC')::date AS day, contact_id, count(*) AS calls,
         sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
         sum(cost_usd) AS cost_usd
    FROM app.llm_calls GROUP BY 1, contact_id;

REVOKE ALL ON app.llm_usage_by_turn, app.llm_usage_by_session, app.llm_usage_daily
    FROM PUBLIC, anon, authenticated;
GRANT SELECT ON app.llm_usage_by_turn, app.llm_usage_by_session, app.llm_usage_daily
    TO service_role;

-- The daily cost cap spans all users, which RLS hides from any one of them: this
-- narrow function returns only the total.
CREATE FUNCTION app.llm_cost_since(p_since timestamptz)
RETURNS numeric
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, app AS $$
  SELECT coalesce(sum(cost_usd), 0) FROM app.llm_calls WHERE created_at >= p_since
$$;
REVOKE ALL ON FUNCTION app.llm_cost_since(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.llm_cost_since(timestamptz) TO authenticated, service_role;
