-- Owner-privileged functions act on every user's rows; the application calls them only
-- as the owner (bot/db/pool.py: autocommit / as_system), never as the per-user role.
-- As `authenticated`, ingest_message wrote into another person's conversation,
-- record_delivery_status changed another person's row, pending_conversations listed
-- every conversation, find_conversation told whether a number is a customer, and
-- purge_expired could be run by anyone. service_role (Supabase's server role) keeps them.
REVOKE EXECUTE ON FUNCTION app.ingest_message(text, text, text, text, text, text, text, jsonb,
                                              jsonb, timestamptz, text) FROM authenticated;
REVOKE EXECUTE ON FUNCTION app.pending_conversations(interval, integer) FROM authenticated;
REVOKE EXECUTE ON FUNCTION app.purge_expired(timestamptz) FROM authenticated;
REVOKE EXECUTE ON FUNCTION app.find_conversation(text, text) FROM authenticated;
REVOKE EXECUTE ON FUNCTION app.record_delivery_status(text, bigint, text, text, text)
    FROM authenticated;

-- "Forget" deletes the fact (the per-user role has no DELETE on user_context, so it used
-- to mark the fact expired and it stayed). Only the acting user's own facts: auth.uid().
CREATE FUNCTION app.forget_context(p_key text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, app AS $$
BEGIN
  DELETE FROM app.user_context
   WHERE contact_id = auth.uid() AND key = p_key
     AND (expires_at IS NULL OR expires_at > now());
  RETURN FOUND;
END
$$;
REVOKE ALL ON FUNCTION app.forget_context(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.forget_context(text) TO authenticated, service_role;
