"""Hot-path statements (`shared.statements`) give what `session.execute` gives, on every backend and driver, and
the embedded database's WAL is checkpointed off the loop (`shared.sqlite_checkpoint`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from shared.db import Database, SqliteDriver, UTCDateTime
from shared.statements import Statement
from shared.uow import UnitOfWork

METADATA = MetaData()
THINGS = Table("things", METADATA, Column("id", String(20), primary_key=True), Column("count", Integer),
               Column("ready", Boolean, nullable=False), Column("due", UTCDateTime(), nullable=True))
INSERT = Statement(insert(THINGS), column_keys=["id", "count", "ready", "due"])
BUMP = Statement(update(THINGS).where(THINGS.c.id == bindparam("thing"), THINGS.c.count < 3)
                 .values(count=THINGS.c.count + 1).returning(THINGS.c.count, THINGS.c.ready, THINGS.c.due))
READY_SINCE = Statement(select(THINGS.c.id, THINGS.c.due).where(
    THINGS.c.ready.is_(True), THINGS.c.due > bindparam("since", type_=UTCDateTime())).order_by(THINGS.c.id))
SHANGHAI = timezone(timedelta(hours=8))


async def _database(url: str, sqlite_driver: SqliteDriver = "inloop") -> Database:
    db = Database(url, sqlite_driver=sqlite_driver)
    async with db.writing() as session:
        await session.run_sync(lambda sync: METADATA.create_all(sync.connection()))
    return db


async def test_statements_convert_as_sqlalchemy_does(database_url: str) -> None:
    await _converts_as_sqlalchemy_does(await _database(database_url))


async def test_statements_convert_the_same_through_aiosqlites_thread(tmp_path: Path) -> None:
    await _converts_as_sqlalchemy_does(await _database(f"sqlite+aiosqlite:///{tmp_path}/t.db", "thread"))


async def _converts_as_sqlalchemy_does(db: Database) -> None:
    try:
        due = datetime(2026, 11, 22, 18, 30, tzinfo=SHANGHAI)  # stored as UTC, read back as UTC
        async with UnitOfWork(db, "test") as uow:
            connection = await uow.connection()
            await INSERT.run(connection, {"id": "a", "count": 0, "ready": True, "due": due})
            await INSERT.run_many(uow.session, [{"id": "b", "count": 2, "ready": False, "due": None},
                                                {"id": "c", "count": 3, "ready": True, "due": due + timedelta(1)}])
            bumped = await BUMP.rows(connection, {"thing": "a"})
            assert await BUMP.first(connection, {"thing": "c"}) is None  # the condition held it at 3
            await uow.commit()
        assert [(row.count, row.ready, row.due) for row in bumped] == [(1, True, due)]
        assert bumped[0].due.tzinfo == UTC
        async with db.reading() as session:
            rows = await READY_SINCE.rows(session, {"since": due - timedelta(minutes=1)})
            expected = (await session.execute(READY_SINCE.statement, {"since": due - timedelta(minutes=1)})).all()
        assert [tuple(row) for row in rows] == [tuple(row) for row in expected]
        assert [tuple(row) for row in rows] == [("a", due), ("c", due + timedelta(1))]
    finally:
        await db.dispose()


async def test_a_statement_in_a_rolled_back_unit_of_work_leaves_nothing(database_url: str) -> None:
    db = await _database(database_url)
    try:
        with pytest.raises(RuntimeError):
            async with UnitOfWork(db, "test") as uow:
                await INSERT.run(await uow.connection(), {"id": "x", "count": 0, "ready": True, "due": None})
                raise RuntimeError("the command failed after its first statement")
        async with db.reading() as session:
            assert (await session.execute(text("SELECT count(*) FROM things"))).scalar_one() == 0
    finally:
        await db.dispose()


async def test_the_embedded_database_is_checkpointed_off_the_loop(tmp_path: Path) -> None:
    """The write connection checkpoints only past the fallback; the helper's passive checkpoints copy the log into
    the database file as writes go on."""
    db = await _database(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    try:
        assert db.checkpointer is not None
        async with db.writing() as session:
            autocheckpoint = (await session.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one()
        assert autocheckpoint == 10_000
        before = (tmp_path / "c.db").stat().st_size
        for n in range(250):
            async with db.writing() as session:
                await session.execute(insert(THINGS), {"id": f"t{n}", "count": n, "ready": True, "due": None})
            await asyncio.sleep(0)  # the loop serves others between commands (and hears the helper finish)
        await db.checkpointer.wait()
        assert db.checkpointer.completed >= 1
        assert (tmp_path / "c.db").stat().st_size > before  # the rows reached the database file itself
        async with db.reading() as session:
            assert (await session.execute(text("SELECT count(*) FROM things"))).scalar_one() == 250
    finally:
        await db.dispose()


async def test_the_thread_driver_keeps_sqlites_own_checkpoints(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/t.db", sqlite_driver="thread")
    try:
        assert db.checkpointer is None
        async with db.writing() as session:
            assert (await session.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one() == 1000
    finally:
        await db.dispose()


async def test_a_failing_statement_raises_as_sqlalchemy_would(database_url: str) -> None:
    """Callers catch SQLAlchemy's exceptions whichever driver ran the statement."""
    db = await _database(database_url)
    try:
        with pytest.raises(IntegrityError):
            async with UnitOfWork(db, "test") as uow:
                await INSERT.run(await uow.connection(), {"id": "x", "count": 0, "ready": True, "due": None})
                await INSERT.run(await uow.connection(), {"id": "x", "count": 1, "ready": True, "due": None})
        async with UnitOfWork(db, "test") as uow:  # the connection is usable again, nothing was kept
            assert await READY_SINCE.rows(await uow.connection(), {"since": datetime(2000, 1, 1, tzinfo=UTC)}) == []
            await INSERT.run(await uow.connection(), {"id": "x", "count": 2, "ready": False, "due": None})
            await uow.commit()
    finally:
        await db.dispose()


async def test_a_unit_of_work_used_after_its_commit_leaves_no_transaction_behind(database_url: str) -> None:
    """The write turn's connection is kept across commands (SQLite): a read after the commit must not leave a
    transaction open for the next command, and nothing after the commit is kept."""
    db = await _database(database_url)
    try:
        async with UnitOfWork(db, "test") as uow:
            await INSERT.run(await uow.connection(), {"id": "a", "count": 0, "ready": True, "due": None})
            await uow.commit()
            assert (await uow.session.execute(text("SELECT count(*) FROM things"))).scalar_one() == 1
            await INSERT.run(await uow.connection(), {"id": "b", "count": 0, "ready": True, "due": None})
        async with UnitOfWork(db, "test") as uow:
            ids = (await uow.session.execute(text("SELECT id FROM things ORDER BY id"))).scalars().all()
            await uow.commit()
        assert ids == ["a"]  # "b" came after the commit and was rolled back at the end of the unit of work
    finally:
        await db.dispose()


async def test_a_run_of_commands_lets_the_loop_serve_others_between_them(tmp_path: Path) -> None:
    """On the in-loop driver a command never waits for I/O; the write turn yields once when it ends, so a job of many
    commands does not hold requests (or the relay) for all of them."""
    db = await _database(f"sqlite+aiosqlite:///{tmp_path}/y.db")
    served: list[int] = []
    try:
        async def job() -> None:
            for n in range(20):
                async with UnitOfWork(db, "test") as uow:
                    await INSERT.run(await uow.connection(), {"id": f"j{n}", "count": n, "ready": True, "due": None})
                    await uow.commit()

        async def request() -> None:
            for _ in range(20):
                async with db.reading() as session:
                    served.append(int((await session.execute(text("SELECT count(*) FROM things"))).scalar_one()))
                await asyncio.sleep(0)

        await asyncio.gather(job(), request())
        assert 0 < served[1] < 20  # the request ran while the job was half-way, not after it
    finally:
        await db.dispose()
