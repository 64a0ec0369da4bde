-- WhatsApp through Twilio: delivery status callbacks and the Content API template cache.

-- Status callbacks name a Twilio message SID and arrive without an acting user, so
-- they go through this narrow owner-privileged function. The callback URL carries
-- the outbound row's id (signed by Twilio together with the URL), which also covers
-- the later parts of a reply that was split; the SID is the fallback.
-- Statuses only move forward (callbacks arrive out of order): sent < delivered <
-- read; failed and undelivered are final. A row still pending or sending belongs to
-- the deliverer (a reply split in parts may be half sent): callbacks leave it alone,
-- the deliverer records the outcome itself.
CREATE FUNCTION app.delivery_status_rank(p_status text) RETURNS integer
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
  SELECT CASE p_status
    WHEN 'pending' THEN 0 WHEN 'sending' THEN 1 WHEN 'sent' THEN 2
    WHEN 'delivered' THEN 3 WHEN 'read' THEN 4
    WHEN 'undelivered' THEN 5 WHEN 'failed' THEN 5 ELSE -1 END
$$;

CREATE FUNCTION app.record_delivery_status(
    p_channel text, p_message_id bigint, p_external_id text, p_status text, p_error text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, app AS $$
DECLARE
  n integer;
BEGIN
  IF app.delivery_status_rank(p_status) < 2 THEN
    RETURN false;
  END IF;
  UPDATE app.messages m
     SET status = p_status,
         error = CASE WHEN p_error IS NOT NULL THEN left(p_error, 500) ELSE m.error END,
         external_id = coalesce(m.external_id, p_external_id),
         updated_at = clock_timestamp()
   WHERE m.direction = 'out' AND m.channel = p_channel
     AND ((p_message_id IS NOT NULL AND m.id = p_message_id)
          OR (p_message_id IS NULL AND m.external_id = p_external_id))
     AND m.status NOT IN ('pending', 'sending')
     AND app.delivery_status_rank(p_status) > app.delivery_status_rank(m.status)
     AND app.delivery_status_rank(m.status) < 5;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n > 0;
END
$$;
REVOKE ALL ON FUNCTION app.record_delivery_status(text, bigint, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.record_delivery_status(text, bigint, text, text, text)
    TO authenticated, service_role;

CREATE INDEX messages_outbound_external ON app.messages (channel, external_id)
    WHERE direction = 'out' AND external_id IS NOT NULL;

-- Content API templates the adapter created, by a hash of their shape. They are
-- bot-authored (button titles, list items), never user data, and shared by all
-- contacts, so every acting user may read and add them; nobody may change them.
-- RLS stays enabled and forced like on every other table, with explicit policies.
CREATE TABLE app.whatsapp_content_templates (
    shape_hash  text PRIMARY KEY,
    content_sid text NOT NULL,
    kind        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE app.whatsapp_content_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE app.whatsapp_content_templates FORCE ROW LEVEL SECURITY;
REVOKE ALL ON app.whatsapp_content_templates FROM PUBLIC, anon, authenticated, service_role;
DO $$
BEGIN
  EXECUTE format('CREATE POLICY owner_all ON app.whatsapp_content_templates TO %I'
                 ' USING (true) WITH CHECK (true)', current_user);
END
$$;
CREATE POLICY shared_read ON app.whatsapp_content_templates FOR SELECT TO authenticated
    USING (true);
CREATE POLICY shared_add ON app.whatsapp_content_templates FOR INSERT TO authenticated
    WITH CHECK (true);
GRANT SELECT, INSERT ON app.whatsapp_content_templates TO authenticated;
