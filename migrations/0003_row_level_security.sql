-- Row-level security, enabled AND forced on every table holding user data.
-- The application works as `authenticated` with the acting contact in the JWT claims;
-- `auth.uid()` is that contact. It has no DELETE privilege anywhere.
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['contacts', 'channel_identities', 'conversations', 'sessions',
                           'messages', 'user_context', 'intent_classifications', 'audit_log']
  LOOP
    EXECUTE format('ALTER TABLE app.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE app.%I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('REVOKE ALL ON app.%I FROM PUBLIC, anon, authenticated, service_role', t);
    -- The migrating role owns the tables and must keep working through its
    -- SECURITY DEFINER functions even where it has no BYPASSRLS (Supabase).
    EXECUTE format('CREATE POLICY owner_all ON app.%I TO %I USING (true) WITH CHECK (true)',
                   t, current_user);
  END LOOP;
END
$$;

CREATE POLICY self ON app.contacts FOR ALL TO authenticated
    USING (id = auth.uid()) WITH CHECK (id = auth.uid());

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['channel_identities', 'conversations', 'sessions', 'messages',
                           'user_context', 'intent_classifications']
  LOOP
    EXECUTE format(
      'CREATE POLICY self ON app.%I FOR ALL TO authenticated '
      'USING (contact_id = auth.uid()) WITH CHECK (contact_id = auth.uid())', t);
  END LOOP;
END
$$;

CREATE POLICY self_insert ON app.audit_log FOR INSERT TO authenticated
    WITH CHECK (contact_id IS NULL OR contact_id = auth.uid());

GRANT SELECT, UPDATE ON app.contacts TO authenticated;
GRANT SELECT ON app.channel_identities TO authenticated;
GRANT SELECT, INSERT ON app.conversations TO authenticated;
GRANT SELECT, INSERT, UPDATE ON app.sessions, app.messages, app.user_context,
      app.intent_classifications TO authenticated;
GRANT INSERT ON app.audit_log TO authenticated;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA app TO authenticated;
