"""Credit's migrations go down as well as up: below 0003 and back to head, with the rows kept (SQLite and
PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import credit
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shared.db import Database
from shared.migrations import migrate, upgrade_to_head

MIGRATIONS = str(Path(credit.__file__).parent / "migrations")
ADDED_BY_0003 = {
    "credit_records": {"dimensions", "as_of", "name", "registration_number_masked"},
    "credit_record_changes": {"cause_event_ids", "dimensions"},
}
TABLES_OF_0003 = {"credit_facts", "credit_listings", "credit_objections", "credit_repairs", "credit_consents",
                  "holiday_calendar"}


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await upgrade_to_head(database, MIGRATIONS)
    try:
        yield database
    finally:
        await database.dispose()


async def _schema(db: Database) -> dict[str, set[str]]:
    def read(connection: Connection) -> dict[str, set[str]]:
        inspector = sa.inspect(connection)
        return {table: {c["name"] for c in inspector.get_columns(table)} for table in inspector.get_table_names()}

    async with db.write_engine.connect() as connection:
        return await connection.run_sync(read)


async def test_0003_downgrades_to_0002_and_upgrades_again_keeping_the_records(db: Database) -> None:
    head = await _schema(db)
    assert TABLES_OF_0003 <= set(head)
    for table, columns in ADDED_BY_0003.items():
        assert columns <= head[table], table
    async with db.write_engine.begin() as connection:  # a record with a change: the downgrade must keep both
        await connection.execute(sa.text(
            "INSERT INTO credit_records (subject_id, subject_kind, owner_id, score, policy_version, opened_at, "
            "dimensions, name, registration_number_masked) VALUES ('s1', 'person', 'p1', 640, 'credit-2026.2', "
            "'2026-03-01 00:00:00+00:00', '{\"delivery\": 40}', 'Alice', '1101**********002X')"))
        await connection.execute(sa.text(
            "INSERT INTO credit_record_changes (subject_id, event_id, event_type, score_before, score_after, "
            "policy_version, changed_at, cause_event_ids, dimensions) VALUES ('s1', 'e1', 't', 600, 640, "
            "'credit-2026.2', '2026-03-01 00:00:00+00:00', '[\"e1\"]', '{}')"))

    await migrate(db, MIGRATIONS, "0002", downgrade=True)
    below = await _schema(db)
    assert not TABLES_OF_0003 & set(below)
    for table, columns in ADDED_BY_0003.items():
        assert not columns & below[table], (table, columns & below[table])
        assert below[table] == head[table] - columns  # nothing else went

    await migrate(db, MIGRATIONS, "head")
    assert await _schema(db) == head
    async with db.reading() as session:
        record = (await session.execute(sa.text(
            "SELECT score, dimensions, name FROM credit_records WHERE subject_id = 's1'"))).one()
        changes = (await session.execute(sa.text("SELECT count(*) FROM credit_record_changes"))).scalar_one()
    assert tuple(record) == (640, "{}", "") and changes == 1  # the row kept; the re-added columns at their defaults


async def test_the_overdue_marks_are_backfilled_for_late_decisions_and_go_down_to_0003(db: Database) -> None:
    head = await _schema(db)
    added = {"overdue_at", "decided_late"}
    await migrate(db, MIGRATIONS, "0003", downgrade=True)
    below = await _schema(db)
    for table in ("credit_objections", "credit_repairs"):
        assert added <= head[table] and below[table] == head[table] - added, table
    async with db.write_engine.begin() as connection:  # two answered objections at 0003: one late, one on time
        await connection.execute(sa.text(
            "INSERT INTO credit_listings (id, subject_id, list_kind, tier, state, rule, reasons, basis, "
            "cause_event_ids, policy_version, notified_at, notice_ends_at) VALUES ('l1', 's1', 'black', 'general', "
            "'listed', 'r', '[]', 'b', '[]', 'credit-2026.2', '2026-03-01 00:00:00+00:00', "
            "'2026-03-06 15:59:59.999999+00:00')"))
        for row_id, decided in (("late", "2026-03-21 01:00:00+00:00"), ("on-time", "2026-03-20 15:00:00+00:00")):
            await connection.execute(sa.text(  # the moments inline: PostgreSQL casts a literal, not a parameter
                "INSERT INTO credit_objections (id, listing_id, subject_id, grounds, filed_at, feedback_due, state, "
                "decided_by, decided_at, note) VALUES (:id, 'l1', 's1', 'g', '2026-03-06 02:00:00+00:00', "
                f"'2026-03-20 15:59:59.999999+00:00', 'dismissed', 'r1', '{decided}', '')"), {"id": row_id})

    await migrate(db, MIGRATIONS, "head")
    assert await _schema(db) == head
    async with db.reading() as session:
        rows = {row.id: (row.decided_late, row.overdue_at) for row in await session.execute(sa.text(
            "SELECT id, decided_late, overdue_at FROM credit_objections"))}
    assert rows["on-time"] == (False, None)
    assert bool(rows["late"][0]) and rows["late"][1] is not None  # overdue at its decision
