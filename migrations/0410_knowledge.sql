-- The knowledge base: Markdown sections of a bot definition's knowledge files, indexed
-- for full-text search always, for trigram similarity where pg_trgm is available, and
-- for vector similarity where pgvector is. Not user data: readable by `authenticated`,
-- written only by the owner (`bot kb ingest` runs on the system connection).

CREATE TABLE app.kb_chunks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    collection   text NOT NULL DEFAULT 'default',
    source       text NOT NULL,
    ordinal      integer NOT NULL,
    heading      text NOT NULL,  -- the heading path, "Policies › Cancellation policy"
    title        text NOT NULL,  -- its last part, "Cancellation policy"
    content      text NOT NULL,
    content_hash text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- the section's own title weighs most, its parents' titles least: "Policies" in
    -- every policy's path must not make each of them a match for "policy"
    search       tsvector GENERATED ALWAYS AS (
                     setweight(to_tsvector('english', title), 'A')
                     || setweight(to_tsvector('english', content), 'B')
                     || setweight(to_tsvector('english', heading), 'D')) STORED,
    UNIQUE (collection, source, content_hash)
);
CREATE INDEX kb_chunks_search ON app.kb_chunks USING gin (search);
CREATE INDEX kb_chunks_source ON app.kb_chunks (collection, source, ordinal);

ALTER TABLE app.kb_chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE app.kb_chunks FORCE ROW LEVEL SECURITY;
REVOKE ALL ON app.kb_chunks FROM PUBLIC, anon, authenticated, service_role;
DO $$
BEGIN
  EXECUTE format('CREATE POLICY owner_all ON app.kb_chunks TO %I USING (true) WITH CHECK (true)',
                 current_user);
END
$$;
CREATE POLICY read_all ON app.kb_chunks FOR SELECT TO authenticated USING (true);
GRANT SELECT ON app.kb_chunks TO authenticated;

-- Optional extensions: plain PostgreSQL may lack pg_trgm (contrib), the embedded server
-- lacks pg_trgm but ships pgvector, Supabase has both. The code asks the catalog which
-- of them are there and works without either.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
    BEGIN
      CREATE EXTENSION IF NOT EXISTS pg_trgm;
      EXECUTE 'CREATE INDEX kb_chunks_trgm ON app.kb_chunks'
              ' USING gin ((heading || '' '' || content) gin_trgm_ops)';
    EXCEPTION WHEN others THEN
      RAISE NOTICE 'pg_trgm not enabled: %', SQLERRM;
    END;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
    BEGIN
      CREATE EXTENSION IF NOT EXISTS vector;
      -- No fixed dimension: any embedder fits; the model name says which one wrote it.
      EXECUTE 'ALTER TABLE app.kb_chunks ADD COLUMN embedding vector,'
              ' ADD COLUMN embedding_model text';
    EXCEPTION WHEN others THEN
      RAISE NOTICE 'pgvector not enabled: %', SQLERRM;
    END;
  END IF;
END
$$;
