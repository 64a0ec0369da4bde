-- Owner-privileged functions for the few operations that happen before a user is
-- known (ingestion) or across users (recovery, purge). Each is narrow and runs with
-- a fixed search_path.

-- Store one inbound message: find or create the contact, its identity and the
-- conversation, insert the message unless (channel, external_id) is already there.
CREATE FUNCTION app.ingest_message(
    p_channel text, p_sender_id text, p_sender_name text, p_conversation_key text,
    p_external_id text, p_text text, p_payload text, p_media jsonb, p_raw jsonb,
    p_received_at timestamptz, p_trace_id text,
    OUT message_id bigint, OUT conversation_id uuid, OUT contact_id uuid, OUT duplicate boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, app AS $$
BEGIN
  SELECT m.id, m.conversation_id, m.contact_id INTO message_id, conversation_id, contact_id
    FROM app.messages m
   WHERE m.channel = p_channel AND m.external_id = p_external_id AND m.direction = 'in';
  IF FOUND THEN
    duplicate := true;
    RETURN;
  END IF;

  SELECT ci.contact_id INTO contact_id FROM app.channel_identities ci
   WHERE ci.channel = p_channel AND ci.external_id = p_sender_id;
  IF NOT FOUND THEN
    INSERT INTO app.contacts (display_name) VALUES (p_sender_name) RETURNING id INTO contact_id;
    INSERT INTO app.channel_identities (channel, external_id, contact_id)
         VALUES (p_channel, p_sender_id, contact_id)
    ON CONFLICT (channel, external_id) DO NOTHING;
    IF NOT FOUND THEN
      -- Lost a race with a concurrent first message from the same sender.
      SELECT ci.contact_id INTO contact_id FROM app.channel_identities ci
       WHERE ci.channel = p_channel AND ci.external_id = p_sender_id;
    END IF;
  ELSIF p_sender_name IS NOT NULL THEN
    UPDATE app.contacts c SET display_name = p_sender_name
     WHERE c.id = contact_id AND c.display_name IS DISTINCT FROM p_sender_name;
  END IF;

  INSERT INTO app.conversations (contact_id, channel, conversation_key)
       VALUES (contact_id, p_channel, p_conversation_key)
  ON CONFLICT (channel, conversation_key) DO NOTHING
  RETURNING id INTO conversation_id;
  IF conversation_id IS NULL THEN
    SELECT cv.id INTO conversation_id FROM app.conversations cv
     WHERE cv.channel = p_channel AND cv.conversation_key = p_conversation_key;
  END IF;

  INSERT INTO app.messages (contact_id, conversation_id, direction, channel, external_id,
                            text, payload, media, raw, status, received_at, trace_id)
       VALUES (contact_id, conversation_id, 'in', p_channel, p_external_id,
               p_text, p_payload, coalesce(p_media, '[]'), p_raw, 'received',
               p_received_at, p_trace_id)
  ON CONFLICT (channel, external_id) WHERE direction = 'in' DO NOTHING
  RETURNING id INTO message_id;

  IF message_id IS NULL THEN
    SELECT m.id, m.conversation_id, m.contact_id INTO message_id, conversation_id, contact_id
      FROM app.messages m
     WHERE m.channel = p_channel AND m.external_id = p_external_id AND m.direction = 'in';
    duplicate := true;
  ELSE
    duplicate := false;
    UPDATE app.contacts c SET last_inbound_at = greatest(c.last_inbound_at, p_received_at)
     WHERE c.id = contact_id;
  END IF;
END
$$;

-- Conversations with work left (unanswered inbound or undelivered outbound), for recovery.
-- Only messages older than p_older_than count, so conversations being worked on right
-- now are left to their worker.
CREATE FUNCTION app.pending_conversations(p_older_than interval, p_limit integer DEFAULT 1000)
RETURNS TABLE (conversation_id uuid, contact_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, app AS $$
  SELECT DISTINCT m.conversation_id, m.contact_id
    FROM app.messages m
   WHERE ((m.direction = 'in' AND m.status = 'received')
          OR (m.direction = 'out' AND m.status IN ('pending', 'sending')))
     AND m.updated_at < clock_timestamp() - p_older_than
   LIMIT p_limit
$$;

-- Expired user context and, optionally, old closed data: the only deletes there are.
CREATE FUNCTION app.purge_expired(p_now timestamptz DEFAULT now())
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, app AS $$
DECLARE
  n integer;
BEGIN
  DELETE FROM app.user_context WHERE expires_at IS NOT NULL AND expires_at <= p_now;
  GET DIAGNOSTICS n = ROW_COUNT;
  INSERT INTO app.audit_log (actor, action, detail)
       VALUES ('system', 'purge_expired', jsonb_build_object('user_context_rows', n));
  RETURN n;
END
$$;

REVOKE ALL ON FUNCTION app.ingest_message(text, text, text, text, text, text, text, jsonb, jsonb,
                                          timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION app.pending_conversations(interval, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION app.purge_expired(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.ingest_message(text, text, text, text, text, text, text, jsonb, jsonb,
                                             timestamptz, text) TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION app.pending_conversations(interval, integer) TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION app.purge_expired(timestamptz) TO authenticated, service_role;

-- Look up a conversation by its channel key (the web chat's session id) before the
-- acting user is known; returns nothing for an unknown key.
CREATE FUNCTION app.find_conversation(p_channel text, p_conversation_key text)
RETURNS TABLE (conversation_id uuid, contact_id uuid, last_activity_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, app AS $$
  SELECT c.id, c.contact_id,
         (SELECT max(m.created_at) FROM app.messages m WHERE m.conversation_id = c.id)
    FROM app.conversations c
   WHERE c.channel = p_channel AND c.conversation_key = p_conversation_key
$$;
REVOKE ALL ON FUNCTION app.find_conversation(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.find_conversation(text, text) TO authenticated, service_role;
