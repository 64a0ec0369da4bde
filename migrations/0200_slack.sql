-- Slack workspaces installed through the OAuth flow, and the flow's one-time states.
--
-- Installations are not user data but secrets (bot and user tokens): no role the
-- application acts as (`authenticated`, `anon`) may read them, and no RLS policy
-- opens them to a user. RLS is enabled and forced with only the owner policy, every
-- privilege is revoked, and the only way in is the narrow owner-privileged functions
-- below, executable by the owning (login) role and `service_role`, never by
-- `authenticated`. A prompt-injected tool running in a user's unit of work cannot
-- reach a token.
CREATE TABLE app.slack_installations (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id             text NOT NULL,
    enterprise_id         text NOT NULL DEFAULT '',
    team_id               text NOT NULL DEFAULT '',
    user_id               text NOT NULL DEFAULT '',
    is_enterprise_install boolean NOT NULL DEFAULT false,
    has_bot               boolean NOT NULL DEFAULT false,
    data                  jsonb NOT NULL,
    installed_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, enterprise_id, team_id, user_id)
);
CREATE INDEX slack_installations_team ON app.slack_installations
    (client_id, enterprise_id, team_id, installed_at DESC);

CREATE TABLE app.slack_oauth_states (
    state      text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['slack_installations', 'slack_oauth_states']
  LOOP
    EXECUTE format('ALTER TABLE app.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE app.%I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('REVOKE ALL ON app.%I FROM PUBLIC, anon, authenticated, service_role', t);
    EXECUTE format('CREATE POLICY owner_all ON app.%I TO %I USING (true) WITH CHECK (true)',
                   t, current_user);
  END LOOP;
END
$$;

CREATE FUNCTION app.slack_save_installation(
    p_client_id text, p_enterprise_id text, p_team_id text, p_user_id text,
    p_is_enterprise_install boolean, p_has_bot boolean, p_data jsonb)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, app AS $$
  INSERT INTO app.slack_installations AS i (client_id, enterprise_id, team_id, user_id,
                                            is_enterprise_install, has_bot, data)
  VALUES (p_client_id, coalesce(p_enterprise_id, ''), coalesce(p_team_id, ''),
          coalesce(p_user_id, ''), p_is_enterprise_install, p_has_bot, p_data)
  ON CONFLICT (client_id, enterprise_id, team_id, user_id) DO UPDATE
     SET data = excluded.data, has_bot = excluded.has_bot,
         is_enterprise_install = excluded.is_enterprise_install, installed_at = now();
$$;

-- The latest installation of a workspace (or org), optionally of one user, or the
-- latest one that carries a bot token.
CREATE FUNCTION app.slack_find_installation(
    p_client_id text, p_enterprise_id text, p_team_id text, p_user_id text, p_bot_only boolean)
RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, app AS $$
  SELECT i.data FROM app.slack_installations i
   WHERE i.client_id = p_client_id AND i.enterprise_id = coalesce(p_enterprise_id, '')
     AND i.team_id = coalesce(p_team_id, '')
     AND (p_user_id IS NULL OR i.user_id = p_user_id)
     AND (NOT p_bot_only OR i.has_bot)
   ORDER BY i.installed_at DESC LIMIT 1
$$;

CREATE FUNCTION app.slack_delete_installation(
    p_client_id text, p_enterprise_id text, p_team_id text, p_user_id text)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, app AS $$
DECLARE
  n integer;
BEGIN
  DELETE FROM app.slack_installations i
   WHERE i.client_id = p_client_id AND i.enterprise_id = coalesce(p_enterprise_id, '')
     AND i.team_id = coalesce(p_team_id, '') AND (p_user_id IS NULL OR i.user_id = p_user_id);
  GET DIAGNOSTICS n = ROW_COUNT;
  INSERT INTO app.audit_log (actor, action, detail)
       VALUES ('slack', 'installation_deleted',
               jsonb_build_object('enterprise_id', p_enterprise_id, 'team_id', p_team_id,
                                  'user_id', p_user_id, 'rows', n));
  RETURN n;
END
$$;

CREATE FUNCTION app.slack_issue_state(p_state text, p_ttl interval)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, app AS $$
  DELETE FROM app.slack_oauth_states WHERE expires_at < now();
  INSERT INTO app.slack_oauth_states (state, expires_at) VALUES (p_state, now() + p_ttl);
$$;

-- A state is good once: consuming removes it whether or not it has expired.
CREATE FUNCTION app.slack_consume_state(p_state text)
RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, app AS $$
  WITH gone AS (DELETE FROM app.slack_oauth_states WHERE state = p_state RETURNING expires_at)
  SELECT coalesce((SELECT expires_at > now() FROM gone), false)
$$;

REVOKE ALL ON FUNCTION app.slack_save_installation(text, text, text, text, boolean, boolean, jsonb),
    app.slack_find_installation(text, text, text, text, boolean),
    app.slack_delete_installation(text, text, text, text),
    app.slack_issue_state(text, interval), app.slack_consume_state(text)
    FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION app.slack_save_installation(text, text, text, text, boolean, boolean, jsonb),
    app.slack_find_installation(text, text, text, text, boolean),
    app.slack_delete_installation(text, text, text, text),
    app.slack_issue_state(text, interval), app.slack_consume_state(text)
    TO service_role;

-- Whether the bot already takes part in a Slack thread (someone has a conversation
-- whose key starts with the thread's `team:channel:thread_ts`), and the stored display
-- name of a Slack user: both asked before the acting user is known, so
-- owner-privileged, answering only that.
CREATE INDEX conversations_slack_thread ON app.conversations (conversation_key text_pattern_ops)
    WHERE channel = 'slack';

CREATE FUNCTION app.slack_thread_known(p_thread_key text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, app AS $$
  SELECT EXISTS (
    SELECT 1 FROM app.conversations c
     WHERE c.channel = 'slack'
       AND c.conversation_key LIKE replace(replace(replace(p_thread_key, '\', '\\'),
                                                   '%', '\%'), '_', '\_') || ':%')
$$;

CREATE FUNCTION app.contact_display_name(p_channel text, p_external_id text)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, app AS $$
  SELECT ct.display_name FROM app.channel_identities ci
    JOIN app.contacts ct ON ct.id = ci.contact_id
   WHERE ci.channel = p_channel AND ci.external_id = p_external_id
$$;
REVOKE ALL ON FUNCTION app.slack_thread_known(text),
    app.contact_display_name(text, text) FROM PUBLIC;
-- Not granted to `authenticated`: a user's unit of work has no business looking up
-- other people's names or threads; the webhook calls these as the login role.
GRANT EXECUTE ON FUNCTION app.slack_thread_known(text),
    app.contact_display_name(text, text) TO service_role;
