"""Joint incentives and punishments (联合奖惩) in the maker-space, from the local listing replica (never a call to
credit), on a real database (SQLite and PostgreSQL): a black-listed subject can neither book (one slot or a
series) nor apply for residency, itself or through its organisation, and the refusal names the listing and the
way to object; a removal lifts it. A red-listed applicant's application under review, and a red-listed member's
booking pending approval, go first in the operator's queue, marked `fast_tracked`, and their events say so."""

from __future__ import annotations

from datetime import timedelta

from makerspace import api, handlers

from shared.auth import Principal
from shared.db import Database
from tests.support.listings import record_listing
from tests.support.listings import refused_for_listing as refused

from .test_handlers_with_database import NOW, OPERATOR, a_space, events, member, run, slot

FOUNDER_ROLES = frozenset({"founder"})


def founder(name: str) -> Principal:
    return Principal(subject=name, roles=FOUNDER_ROLES)


async def test_a_black_listed_subject_cannot_book_or_apply_and_a_removal_lifts_it(db: Database) -> None:
    space, room = await a_space(db, members=2)
    black = member(0)
    await record_listing(db, "makerspace", black.subject, 1, black=True)
    listing = f"l-black-{black.subject}-1"
    await refused(run(db, handlers.book, black, room, [slot(1)], NOW), "booking", listing)
    await refused(run(db, handlers.book, black, room, [slot(2), slot(26)], NOW, recurring=True), "booking", listing)
    await refused(run(db, handlers.submit_application, black, space, "S", "idea", None, NOW),
                  "applying for residency", listing)
    # a clean founder applying for a black-listed organisation is refused, naming the organisation's listing
    await record_listing(db, "makerspace", "org-black", 1, black=True)
    await refused(run(db, handlers.submit_application, founder("f-clean"), space, "S", "idea", "org-black", NOW),
                  "applying for residency", "l-black-org-black-1")
    assert (await run(db, handlers.book, member(1), room, [slot(1)], NOW))[0].state == "confirmed"  # others may

    await record_listing(db, "makerspace", black.subject, 2)  # removed (upheld objection, repair or expiry)
    assert (await run(db, handlers.book, black, room, [slot(3)], NOW))[0].state == "confirmed"
    applied = await run(db, handlers.submit_application, black, space, "S", "idea", None, NOW)
    assert applied.state == "submitted"


async def queue(db: Database, space: str) -> list[tuple[str, bool]]:
    async with db.reading() as session:
        rows = await api.space_applications(space, session, OPERATOR, limit=50, offset=0)
    return [(row.startup_name, row.fast_tracked) for row in rows]


async def test_red_listed_applicants_are_reviewed_first_and_marked(db: Database) -> None:
    space, _ = await a_space(db, members=0)
    await record_listing(db, "makerspace", "f-red", 1, red=True)
    await record_listing(db, "makerspace", "org-red", 1, red=True)
    await record_listing(db, "makerspace", "org-later-black", 1, red=True)

    async def apply(who: str, name: str, minutes: int, organisation: str | None = None) -> str:
        application = await run(db, handlers.submit_application, founder(who), space, name, "idea", organisation,
                                NOW + timedelta(minutes=minutes))
        return str(application.id)

    await apply("f-plain", "plain", 0)
    await apply("f-red", "red", 1)
    await apply("f-plain-2", "red-organisation", 2, "org-red")
    await apply("f-red", "organisation-black-listed-later", 3, "org-later-black")
    decided = await apply("f-red", "red-but-decided", 4)
    screened = await apply("f-red", "red-in-screening", 5)
    await record_listing(db, "makerspace", "org-later-black", 2, black=True)
    await run(db, handlers.move_application, OPERATOR, decided, "rejected", None, "not a fit", NOW)
    await run(db, handlers.move_application, OPERATOR, screened, "screening", None, None, NOW)

    assert await queue(db, space) == [
        ("red", True), ("red-organisation", True), ("red-in-screening", True),  # under review, oldest first
        ("plain", False), ("organisation-black-listed-later", False), ("red-but-decided", False)]
    submitted = {e.data["startup_name"]: e.data["fast_tracked"] for e in await events(db)
                 if e.type.endswith("application.submitted.v1")}
    assert submitted == {"plain": False, "red": True, "red-organisation": True, "red-but-decided": True,
                         "organisation-black-listed-later": True, "red-in-screening": True}  # standing at submission

    await record_listing(db, "makerspace", "f-red", 2)  # the red listing expires: back to oldest first
    assert [name for name, fast in await queue(db, space) if fast] == ["red-organisation"]


async def test_a_red_listed_members_pending_booking_is_decided_first(db: Database) -> None:
    space, room = await a_space(db, members=3, requires_approval=True)
    await record_listing(db, "makerspace", member(1).subject, 1, red=True)
    plain = (await run(db, handlers.book, member(0), room, [slot(2)], NOW))[0]
    red = (await run(db, handlers.book, member(1), room, [slot(5)], NOW))[0]
    later = (await run(db, handlers.book, member(2), room, [slot(3)], NOW))[0]

    async def pending() -> list[tuple[str, bool]]:
        async with db.reading() as session:
            rows = await api.space_bookings(space, session, OPERATOR, limit=50, offset=0, state=None)
        return [(row.id, row.fast_tracked) for row in rows]

    assert await pending() == [(red.id, True), (plain.id, False), (later.id, False)]
    placed = {e.subject: e.data["fast_tracked"] for e in await events(db) if e.type.endswith("booking.placed.v1")}
    assert placed == {plain.id: False, red.id: True, later.id: False}
    await run(db, handlers.decide_booking, OPERATOR, red.id, True, "", NOW)  # decided: no longer ahead
    assert await pending() == [(plain.id, False), (later.id, False), (red.id, False)]
