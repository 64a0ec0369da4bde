"""Database access: connection pool, migrations, and units of work acting as a user."""
