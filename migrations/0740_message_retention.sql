-- Messages older than RETENTION_DAYS, deleted by each worker's recovery pass (unset: kept).
-- Only settled messages: never one still to be answered or delivered, nor one whose reply
-- is kept. With them go their intent classifications and tool calls; the LLM calls stay
-- (the cost accounting) without the link. Closed sessions of that age lose their summary.
-- The audit log is kept. At most p_limit messages a call: short transactions.
CREATE FUNCTION app.purge_old_messages(p_before timestamptz, p_limit integer DEFAULT 5000)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, app AS $$
DECLARE
  ids bigint[];
  n integer;
BEGIN
  SELECT coalesce(array_agg(id), ARRAY[]::bigint[]) INTO ids FROM (
    SELECT m.id FROM app.messages m
     WHERE m.created_at < p_before
       AND m.status NOT IN ('received', 'pending', 'sending')
       AND NOT EXISTS (SELECT 1 FROM app.messages r
                        WHERE r.reply_to = m.id
                          AND (r.created_at >= p_before
                               OR r.status IN ('received', 'pending', 'sending')))
     ORDER BY m.id LIMIT p_limit) old;
  DELETE FROM app.intent_classifications WHERE message_id = ANY (ids);
  DELETE FROM app.tool_calls WHERE message_id = ANY (ids);
  UPDATE app.llm_calls SET message_id = NULL WHERE message_id = ANY (ids);
  DELETE FROM app.messages WHERE id = ANY (ids);
  GET DIAGNOSTICS n = ROW_COUNT;
  UPDATE app.sessions SET summary = ''
   WHERE status = 'closed' AND last_activity_at < p_before AND summary <> '';
  IF n > 0 THEN
    INSERT INTO app.audit_log (actor, action, detail)
         VALUES ('system', 'purge_old_messages',
                 jsonb_build_object('messages', n, 'before', p_before));
  END IF;
  RETURN n;
END
$$;
REVOKE ALL ON FUNCTION app.purge_old_messages(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.purge_old_messages(timestamptz, integer) TO service_role;
