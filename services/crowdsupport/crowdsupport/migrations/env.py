"""Alembic environment: the shared runner migrates on the connection the service hands over."""

from shared.migrations import run_env

run_env()
