-- Admin sessions ended by logging out: a signed cookie stays valid until it expires, so
-- logging out must be remembered server-side (the cookie's CSRF token names the session).
-- The owner's alone: no grants to the API roles.
CREATE TABLE app.admin_revoked_sessions (
    session_id  text PRIMARY KEY,
    revoked_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
ALTER TABLE app.admin_revoked_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE app.admin_revoked_sessions FORCE ROW LEVEL SECURITY;
REVOKE ALL ON app.admin_revoked_sessions FROM PUBLIC, anon, authenticated, service_role;
DO $$
BEGIN
  EXECUTE format('CREATE POLICY owner_all ON app.admin_revoked_sessions TO %I'
                 ' USING (true) WITH CHECK (true)', current_user);
END
$$;
