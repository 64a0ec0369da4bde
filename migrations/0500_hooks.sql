-- Outgoing event hooks: one row per (event, receiver) with its outcome. Operational
-- data, no personal data: only the owner (login) role reads or writes it.
CREATE TABLE app.hook_deliveries (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     uuid NOT NULL,
    event        text NOT NULL,
    target       text NOT NULL,
    status       text NOT NULL CHECK (status IN ('delivered', 'failed')),
    attempts     integer NOT NULL,
    status_code  integer,
    error        text,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX hook_deliveries_event ON app.hook_deliveries (event_id);
CREATE INDEX hook_deliveries_time ON app.hook_deliveries (finished_at);

-- Alerts raised once (e.g. the day's cost crossing its threshold), whichever process sees it first.
CREATE TABLE app.hook_alerts (
    key        text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['hook_deliveries', 'hook_alerts']
  LOOP
    EXECUTE format('ALTER TABLE app.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE app.%I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('REVOKE ALL ON app.%I FROM PUBLIC, anon, authenticated, service_role', t);
    EXECUTE format('CREATE POLICY owner_all ON app.%I TO %I USING (true) WITH CHECK (true)',
                   t, current_user);
  END LOOP;
END
$$;
