"""Fast-track review (联合激励) from the listing replica, on a real database (SQLite and PostgreSQL): `fast_tracked`
and its SQL twin `fast_track` agree for every mix of subjects: one red-listed subject with fast-track review is
enough, one black-listed subject cancels it, an absent subject (NULL) counts as none."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import literal, null, select

from shared.listings import fast_track, fast_tracked
from tests.support.listings import record_listing

CASES = [
    (("red",), True),
    (("plain",), False),
    (("plain", "red"), True),
    (("red", None), True),
    (("red", "black"), False),
    (("black", "red"), False),
    (("plain", None), False),
    (("unknown",), False),
]


@pytest.fixture
async def replica(money_db: Any) -> Any:
    await record_listing(money_db, "crowdfunding", "red", 1, red=True)
    await record_listing(money_db, "crowdfunding", "black", 1, black=True)
    await record_listing(money_db, "crowdfunding", "plain", 1)  # a listing that ended
    return money_db


async def test_fast_tracked_and_its_sql_twin_agree(replica: Any) -> None:
    async with replica.reading() as session:
        for subjects, expected in CASES:
            assert await fast_tracked(session, *subjects) is expected, subjects
            columns = [literal(s) if s is not None else null() for s in subjects]
            assert bool((await session.execute(select(fast_track(*columns)))).scalar_one()) is expected, subjects
            waiting = await session.execute(select(fast_track(*columns, awaiting=literal(False))))
            assert not waiting.scalar_one(), subjects  # nothing waits for review: never fast-tracked
