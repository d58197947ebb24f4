"""Alembic plumbing shared by every service: run to head at start, and the platform's own tables.

Each service keeps its own `migrations/` folder (its history, its tables); the tables every service
has (outbox, inbox, completeness) are created by `create_platform_tables`, written once here.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy.engine import Connection

from shared.db import Database
from shared.workdays import CN_SCHEDULE


def _config(script_location: str, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", script_location)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade_to_head(db: Database, script_location: str) -> None:
    """Migrate the service's database to the newest revision (idempotent)."""
    await migrate(db, script_location, "head")


async def migrate(db: Database, script_location: str, revision: str, *, downgrade: bool = False) -> None:
    """`alembic upgrade <revision>` (or `downgrade`) on the service's own connection: at start to head, in
    migration tests to a given revision."""

    def _run(connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            # Replicas starting together migrate one at a time (released at commit).
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(4242001)"))
        (command.downgrade if downgrade else command.upgrade)(_config(script_location, connection), revision)

    async with db.write_engine.begin() as connection:
        await connection.run_sync(_run)


def run_env() -> None:
    """Body of every service's env.py: online migrations on the connection handed over by the app."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through the service (it migrates at start) or shared.migrations")
    context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def _timestamp(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def create_platform_tables() -> None:
    op.create_table(
        "outbox",
        sa.Column("sequence", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("partition_key", sa.String(200), nullable=False),
        sa.Column("envelope", sa.Text, nullable=False),
        _timestamp("created_at"),
        _timestamp("sent_at", nullable=True),
    )
    op.create_index("ix_outbox_unsent", "outbox", ["sequence"], sqlite_where=sa.text("sent_at IS NULL"),
                    postgresql_where=sa.text("sent_at IS NULL"))
    op.create_table(
        "outbox_sequence",
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("last_sequence", sa.Integer, nullable=False),
    )
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        _timestamp("handled_at"),
    )
    op.create_index("ix_inbox_source_sequence", "inbox", ["consumer", "source", "sequence"])
    op.create_table(
        "source_progress",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("contiguous_through", sa.Integer, nullable=False),
        sa.Column("highest_seen", sa.Integer, nullable=False),
    )


def create_subject_replica_table() -> None:
    """The crowd services' local replica of registered subjects (see shared.replica)."""
    op.create_table(
        "subject_replica",
        sa.Column("subject_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("registration_number_masked", sa.String(32), nullable=False),
        _timestamp("registered_at"),
        sa.Column("source_event_id", sa.String(64), nullable=False),
    )


def create_api_key_replica_table() -> None:
    """Every service's replica of the gateway's API keys (see shared.api_keys)."""
    op.create_table(
        "api_key_replica",
        sa.Column("key_id", sa.String(16), primary_key=True),
        sa.Column("subject_id", sa.String(64), nullable=False, index=True),
        sa.Column("roles", sa.String(500), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        _timestamp("expires_at"),
        _timestamp("revoked_at", nullable=True),
        sa.Column("source_event_id", sa.String(64), nullable=False),
    )


def add_subject_verification_columns() -> None:
    """Real-name verification on the subject replica (kept from identity.person/organisation.verified)."""
    with op.batch_alter_table("subject_replica") as batch:
        batch.add_column(sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("verification_level", sa.String(60), nullable=True))


def drop_subject_verification_columns() -> None:
    with op.batch_alter_table("subject_replica") as batch:
        batch.drop_column("verification_level")
        batch.drop_column("verified_at")


def create_money_tables() -> None:
    """The ledger and payment tables (see shared.ledger and shared.payments), for services that move money."""
    op.create_table(
        "ledger_transactions",
        sa.Column("id", sa.String(120), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("memo", sa.String(300), nullable=False),
        _timestamp("posted_at"),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("transaction_id", sa.String(120), sa.ForeignKey("ledger_transactions.id"), nullable=False,
                  index=True),
        sa.Column("account", sa.String(200), nullable=False, index=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "payment_attempts",
        sa.Column("idempotency_key", sa.String(120), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("party", sa.String(120), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reference", sa.String(120), nullable=True),
        sa.Column("failure", sa.String(300), nullable=True),
        sa.Column("calls", sa.Integer, nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
    )
    op.create_table(
        "sandbox_provider_operations",
        sa.Column("idempotency_key", sa.String(120), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("party", sa.String(120), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reference", sa.String(120), nullable=False),
        _timestamp("executed_at"),
    )


def create_holiday_calendar_table() -> None:
    """The working-day calendar (see shared.workdays), seeded with the published schedules."""
    table = op.create_table(
        "holiday_calendar",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
    )
    op.bulk_insert(table, [
        {"day": date.fromisoformat(day), "kind": kind, "name": name} for day, kind, name in CN_SCHEDULE
    ])
