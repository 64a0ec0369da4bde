-- The server logs in as `bot_app`, a role with no privileges of its own: in each unit
-- of work it becomes `authenticated` (acting as one contact, under RLS) or `service_role`
-- (work no single contact owns: ingest, delivery receipts, the staff console, recovery).
-- This is Supabase's own arrangement (PostgREST logs in as `authenticator`, NOINHERIT,
-- a member of anon, authenticated and service_role). The migrating role stays the owner;
-- the server is neither superuser nor owner, so `RESET ROLE` inside a unit of work leaves
-- a role that can read no table and call no owner function.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bot_app') THEN
    CREATE ROLE bot_app LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE;
  END IF;
EXCEPTION
  -- roles are the cluster's: another database's migration made it at the same moment
  WHEN duplicate_object OR unique_violation THEN NULL;
  -- a migrator that may not create roles: the operator creates the login and sets
  -- DATABASE_APP_URL (docs/security.md)
  WHEN insufficient_privilege THEN RAISE NOTICE 'bot_app not created: %', SQLERRM;
END
$$;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bot_app') THEN
    GRANT authenticated, service_role TO bot_app;
  END IF;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'roles not granted to bot_app: %', SQLERRM;
END
$$;

-- service_role's grants: migrations/repeatable/service_role.sql (run after every migration
-- run, so they also reach the tables a bot's own migrations create).
