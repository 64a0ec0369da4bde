-- The start of a turn as functions, so the worker opens a turn in one round trip.
-- SECURITY INVOKER: they run as the caller (the `authenticated` role acting for one
-- contact), so row-level security applies to every row they touch.

-- The open session for a message arriving at p_at: continued while activity is more
-- recent than p_inactivity, otherwise the stale one is closed and a new one started.
CREATE FUNCTION app.open_session(p_conversation_id uuid, p_contact_id uuid, p_at timestamptz,
                                 p_inactivity interval, p_inbound integer)
RETURNS TABLE (id uuid, status text, summary text, inbound_count integer, is_new boolean)
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, app AS $$
#variable_conflict use_column
DECLARE
  current_session app.sessions%ROWTYPE;
BEGIN
  SELECT * INTO current_session FROM app.sessions s
   WHERE s.conversation_id = p_conversation_id AND s.status <> 'closed' FOR UPDATE;
  IF FOUND AND p_at - current_session.last_activity_at < p_inactivity THEN
    RETURN QUERY
      UPDATE app.sessions s SET inbound_count = s.inbound_count + p_inbound,
                                last_activity_at = greatest(s.last_activity_at, p_at)
       WHERE s.id = current_session.id
      RETURNING s.id, s.status, s.summary, s.inbound_count, false;
    RETURN;
  END IF;
  IF FOUND THEN
    UPDATE app.sessions s SET status = 'closed', closed_at = p_at, close_reason = 'inactive'
     WHERE s.id = current_session.id;
  END IF;
  RETURN QUERY
    INSERT INTO app.sessions AS s (conversation_id, contact_id, inbound_count, started_at,
                                   last_activity_at)
    VALUES (p_conversation_id, p_contact_id, p_inbound, p_at, p_at)
    RETURNING s.id, s.status, s.summary, s.inbound_count, true;
END
$$;

-- A turn's start: the contact's opt-out flag (when the channel has opt-out words), and
-- unless the turn is skipped for it, the open session and the session's previous intent.
-- A skipped turn's messages are marked `skipped` and no session is touched.
CREATE FUNCTION app.open_turn(p_conversation_id uuid, p_contact_id uuid, p_at timestamptz,
                              p_inactivity interval, p_message_ids bigint[],
                              p_check_opt_out boolean, p_skip_if_opted_out boolean)
RETURNS TABLE (opted_out boolean, skipped boolean, id uuid, status text, summary text,
               inbound_count integer, is_new boolean, previous_intent text)
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, app AS $$
#variable_conflict use_column
DECLARE
  is_opted_out boolean := false;
  session_row record;
BEGIN
  IF p_check_opt_out THEN
    SELECT coalesce(c.opted_out, false) INTO is_opted_out
      FROM app.contacts c WHERE c.id = p_contact_id;
    is_opted_out := coalesce(is_opted_out, false);
    IF is_opted_out AND p_skip_if_opted_out THEN
      UPDATE app.messages m SET status = 'skipped', updated_at = clock_timestamp()
       WHERE m.id = ANY (p_message_ids) AND m.status = 'received';
      RETURN QUERY SELECT true, true, NULL::uuid, NULL::text, NULL::text, NULL::integer,
                          NULL::boolean, NULL::text;
      RETURN;
    END IF;
  END IF;
  SELECT * INTO session_row
    FROM app.open_session(p_conversation_id, p_contact_id, p_at, p_inactivity,
                          cardinality(p_message_ids));
  RETURN QUERY SELECT is_opted_out, false, session_row.id, session_row.status,
         session_row.summary, session_row.inbound_count, session_row.is_new,
         CASE WHEN session_row.is_new THEN NULL ELSE (
           SELECT ic.intent FROM app.intent_classifications ic
             JOIN app.messages m ON m.id = ic.message_id
            WHERE m.session_id = session_row.id
            ORDER BY ic.id DESC LIMIT 1) END;
END
$$;

REVOKE ALL ON FUNCTION app.open_session(uuid, uuid, timestamptz, interval, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION app.open_turn(uuid, uuid, timestamptz, interval, bigint[], boolean,
                                     boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.open_session(uuid, uuid, timestamptz, interval, integer)
  TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION app.open_turn(uuid, uuid, timestamptz, interval, bigint[], boolean,
                                        boolean) TO authenticated, service_role;
