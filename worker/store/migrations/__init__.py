"""Alembic migrations of the job store; run by worker.db when a database is opened."""
