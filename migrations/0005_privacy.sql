-- Export and erasure of one person's data ("right of access" and "right to erasure").

CREATE FUNCTION app.find_contact(p_channel text, p_external_id text)
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, app AS $$
  SELECT contact_id FROM app.channel_identities
   WHERE channel = p_channel AND external_id = p_external_id
$$;

-- Deletes every row of the contact in every app table with a contact_id column (tables
-- added by later migrations included), anonymises their audit records, and records the
-- erasure itself. Tables are retried until foreign keys between them are satisfied.
CREATE FUNCTION app.erase_contact(p_contact uuid, p_actor text)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, app AS $$
DECLARE
  remaining text[];
  pending text[];
  t text;
  n bigint;
  counts jsonb := '{}';
  pass integer := 0;
BEGIN
  SELECT array_agg(c.table_name::text) INTO remaining
    FROM information_schema.columns c
    JOIN information_schema.tables tb
      ON tb.table_schema = c.table_schema AND tb.table_name = c.table_name
   WHERE c.table_schema = 'app' AND c.column_name = 'contact_id'
     AND tb.table_type = 'BASE TABLE' AND c.table_name <> 'audit_log';
  remaining := coalesce(remaining, ARRAY[]::text[]);
  WHILE array_length(remaining, 1) > 0 AND pass < 20 LOOP
    pass := pass + 1;
    pending := ARRAY[]::text[];
    FOREACH t IN ARRAY remaining LOOP
      BEGIN
        EXECUTE format('DELETE FROM app.%I WHERE contact_id = $1', t) USING p_contact;
        GET DIAGNOSTICS n = ROW_COUNT;
        counts := counts || jsonb_build_object(t, coalesce((counts ->> t)::bigint, 0) + n);
      EXCEPTION WHEN foreign_key_violation THEN
        pending := pending || t;
      END;
    END LOOP;
    remaining := pending;
  END LOOP;
  IF array_length(remaining, 1) > 0 THEN
    RAISE EXCEPTION 'could not erase contact from: %', remaining;
  END IF;
  DELETE FROM app.contacts WHERE id = p_contact;
  GET DIAGNOSTICS n = ROW_COUNT;
  counts := counts || jsonb_build_object('contacts', n);
  UPDATE app.audit_log SET contact_id = NULL, detail = detail - 'sample'
   WHERE contact_id = p_contact;
  INSERT INTO app.audit_log (actor, action, detail)
       VALUES (p_actor, 'admin:erase_user',
               jsonb_build_object('contact_sha256', encode(sha256(p_contact::text::bytea), 'hex'),
                                  'rows', counts));
  RETURN counts;
END
$$;

REVOKE ALL ON FUNCTION app.find_contact(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION app.erase_contact(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.find_contact(text, text) TO service_role;
-- Erasure is an operator action run through the login role (bot admin erase-user),
-- never from a user's unit of work: no grant to authenticated.
GRANT EXECUTE ON FUNCTION app.erase_contact(uuid, text) TO service_role;
