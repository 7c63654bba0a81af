"""Engine and transaction handling, table definitions and Alembic migrations."""
