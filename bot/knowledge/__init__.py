"""The knowledge base: Markdown files chunked by heading, indexed and searched in PostgreSQL."""
