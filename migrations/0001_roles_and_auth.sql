-- Roles and the auth.uid() function, created only where absent so the same
-- migrations run on plain PostgreSQL and on a Supabase project (which has them).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
    CREATE ROLE anon NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
    -- BYPASSRLS needs a superuser; a non-superuser migrator gets a plain role.
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
      CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
    ELSE
      CREATE ROLE service_role NOLOGIN NOINHERIT;
    END IF;
  END IF;
END
$$;

-- The login role must be able to SET LOCAL ROLE authenticated inside each unit of work.
DO $$
BEGIN
  EXECUTE format('GRANT authenticated TO %I', current_user);
EXCEPTION WHEN others THEN
  RAISE NOTICE 'could not grant authenticated to %: %', current_user, SQLERRM;
END
$$;

CREATE SCHEMA IF NOT EXISTS auth;

DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'auth' AND p.proname = 'uid'
  ) THEN
    -- Same body as Supabase's auth.uid(): the `sub` claim of the request JWT claims.
    CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $f$
      SELECT coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
      )::uuid
    $f$;
  END IF;
END
$$;

DO $$
BEGIN
  GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
  GRANT EXECUTE ON FUNCTION auth.uid() TO anon, authenticated, service_role;
EXCEPTION WHEN others THEN
  RAISE NOTICE 'auth grants skipped: %', SQLERRM;
END
$$;
