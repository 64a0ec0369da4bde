-- A message can only join its sender's own conversation: with another person's
-- conversation key (a web chat session id someone learnt) ingest_message refused
-- nothing and stored the stranger's text in that conversation (the turn then failed on
-- sessions_one_open and staff saw it in the customer's transcript). The web chat refuses
-- such a request first (404); this is the database's own guard. Otherwise as 0610.
CREATE OR REPLACE FUNCTION app.ingest_message(
    p_channel text, p_sender_id text, p_sender_name text, p_conversation_key text,
    p_external_id text, p_text text, p_payload text, p_media jsonb, p_raw jsonb,
    p_received_at timestamptz, p_trace_id text,
    OUT message_id bigint, OUT conversation_id uuid, OUT contact_id uuid, OUT duplicate boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, app AS $$
DECLARE
  owner uuid;
BEGIN
  SELECT ci.contact_id, cv.id, cv.contact_id INTO contact_id, conversation_id, owner
    FROM app.channel_identities ci
    LEFT JOIN app.conversations cv
      ON cv.channel = p_channel AND cv.conversation_key = p_conversation_key
   WHERE ci.channel = p_channel AND ci.external_id = p_sender_id;
  IF NOT FOUND THEN
    -- first message from this sender
    INSERT INTO app.contacts (display_name) VALUES (p_sender_name) RETURNING id INTO contact_id;
    INSERT INTO app.channel_identities (channel, external_id, contact_id)
         VALUES (p_channel, p_sender_id, contact_id)
    ON CONFLICT (channel, external_id) DO NOTHING;
    IF NOT FOUND THEN
      -- Lost a race with a concurrent first message from the same sender.
      SELECT ci.contact_id INTO contact_id FROM app.channel_identities ci
       WHERE ci.channel = p_channel AND ci.external_id = p_sender_id;
    END IF;
  END IF;

  IF conversation_id IS NULL THEN
    INSERT INTO app.conversations (contact_id, channel, conversation_key)
         VALUES (contact_id, p_channel, p_conversation_key)
    ON CONFLICT (channel, conversation_key) DO NOTHING
    RETURNING id INTO conversation_id;
    IF conversation_id IS NULL THEN
      SELECT cv.id, cv.contact_id INTO conversation_id, owner FROM app.conversations cv
       WHERE cv.channel = p_channel AND cv.conversation_key = p_conversation_key;
    ELSE
      owner := contact_id;
    END IF;
  END IF;
  IF owner IS DISTINCT FROM contact_id THEN
    RAISE EXCEPTION 'conversation % is another contact''s', p_conversation_key
          USING ERRCODE = '42501';
  END IF;

  INSERT INTO app.messages (contact_id, conversation_id, direction, channel, external_id,
                            text, payload, media, raw, status, received_at, trace_id)
       VALUES (contact_id, conversation_id, 'in', p_channel, p_external_id,
               p_text, p_payload, coalesce(p_media, '[]'), p_raw, 'received',
               p_received_at, p_trace_id)
  ON CONFLICT (channel, external_id) WHERE direction = 'in' DO NOTHING
  RETURNING id INTO message_id;

  IF message_id IS NULL THEN  -- a platform retry of a stored message
    SELECT m.id, m.conversation_id, m.contact_id INTO message_id, conversation_id, contact_id
      FROM app.messages m
     WHERE m.channel = p_channel AND m.external_id = p_external_id AND m.direction = 'in';
    duplicate := true;
  ELSE
    duplicate := false;
    UPDATE app.contacts c
       SET last_inbound_at = greatest(c.last_inbound_at, p_received_at),
           display_name = coalesce(p_sender_name, c.display_name)
     WHERE c.id = contact_id;
  END IF;
END
$$;
