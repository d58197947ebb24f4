"""Both SQLite drivers behind the same Database: in the loop's thread (default) and aiosqlite's thread."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from shared.db import Database, SqliteDriver
from shared.sqlite_inloop import InLoopConnection


@pytest.mark.parametrize("driver", ["inloop", "thread"])
async def test_writes_queue_reads_see_commits_and_errors_roll_back(driver: SqliteDriver, tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/d.db", sqlite_driver=driver)
    try:
        async with db.writing() as session:
            await session.execute(text("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)"))
            raw = (await (await session.connection()).get_raw_connection()).driver_connection
            assert isinstance(raw, InLoopConnection) == (driver == "inloop")

        async def put(k: int) -> None:
            async with db.writing() as session:
                await session.execute(text("INSERT INTO t (k, v) VALUES (:k, :v)"), {"k": k, "v": f"v{k}"})

        await asyncio.gather(*(put(k) for k in range(50)))
        with pytest.raises(IntegrityError):
            async with db.writing() as session:
                await session.execute(text("INSERT INTO t (k, v) VALUES (51, 'a')"))
                await session.execute(text("INSERT INTO t (k, v) VALUES (1, 'duplicate')"))
        async with db.reading() as session:
            rows = (await session.execute(text("SELECT k, v FROM t ORDER BY k"))).all()
            mode = (await session.execute(text("PRAGMA journal_mode"))).scalar_one()
        assert [tuple(row) for row in rows] == [(k, f"v{k}") for k in range(50)]  # 51 rolled back with its tx
        assert mode == "wal"
    finally:
        await db.dispose()
