-- Run after every `bot migrate` that applied something (bot/db/migrate.py), so it also
-- reaches what a bot's own migrations create, even when they revoke everything from the
-- API roles first (as the platform's own tables do). service_role does the work no
-- single contact owns (migrations/0730_app_login_role.sql): every table, sequence and
-- function of the app, and the job queue's tables. Idempotent.
GRANT USAGE ON SCHEMA app TO service_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA app TO service_role;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA app TO service_role;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA app TO service_role;

DO $$
DECLARE
  t text;
BEGIN
  FOR t IN SELECT tablename FROM pg_tables
            WHERE schemaname = 'public' AND tablename LIKE 'procrastinate%'
  LOOP
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON public.%I TO service_role', t);
  END LOOP;
  FOR t IN SELECT sequencename FROM pg_sequences
            WHERE schemaname = 'public' AND sequencename LIKE 'procrastinate%'
  LOOP
    EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE public.%I TO service_role', t);
  END LOOP;
  -- Where service_role lacks BYPASSRLS (made by a migrator that is not a superuser), a
  -- policy lets it through the forced RLS of every app table.
  FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'app' AND c.relkind = 'r' AND c.relrowsecurity
              AND NOT EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = 'app'
                                 AND p.tablename = c.relname AND p.policyname = 'system_all')
  LOOP
    EXECUTE format('CREATE POLICY system_all ON app.%I TO service_role'
                   ' USING (true) WITH CHECK (true)', t);
  END LOOP;
END
$$;
