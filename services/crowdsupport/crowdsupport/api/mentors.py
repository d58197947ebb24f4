"""Mentor routes: profiles, matching (ranked, with each score's parts), sessions and feedback."""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated

from fastapi import APIRouter, status
from pydantic import BaseModel, Field, model_validator
from sqlmodel import col, select

from crowdsupport.api.common import Label, MentorRole, Name, SessionMentor, Slot, Startup, Text, ZoneName
from crowdsupport.api.instruments import BookingPublic
from crowdsupport.domain.matching import Needs, Window, match
from crowdsupport.domain.policy import DEFAULT_POLICY
from crowdsupport.handlers import mentors
from crowdsupport.handlers.common import lines
from crowdsupport.models import Mentor, MentorSession
from shared.auth import CurrentPrincipal
from shared.booking.rules import Interval
from shared.service_app import Now, ReadSessionDep, UnitOfWorkDep
from shared.validation import Limit, Offset, ResourceId, Strict

router = APIRouter(tags=["mentors"])


class WindowBody(Strict):
    weekday: int = Field(ge=0, le=6, description="0 = Monday")
    start_minute: int = Field(ge=0, lt=24 * 60)
    end_minute: int = Field(gt=0, le=24 * 60)

    @model_validator(mode="after")
    def _ordered(self) -> WindowBody:
        if self.end_minute <= self.start_minute:
            raise ValueError("end_minute must be after start_minute")
        return self

    def window(self) -> Window:
        return Window(self.weekday, self.start_minute, self.end_minute)


class MentorBody(Strict):
    name: Name
    bio: Text = ""
    skills: list[Label] = Field(min_length=1, max_length=30)
    availability: list[WindowBody] = Field(max_length=50)
    timezone: ZoneName = "Asia/Shanghai"


class MentorPublic(BaseModel):
    id: str
    name: str
    bio: str
    skills: list[str]
    availability: list[tuple[int, int, int]]
    timezone: str

    @classmethod
    def of(cls, mentor: Mentor) -> MentorPublic:
        return cls(id=mentor.id, name=mentor.name, bio=mentor.bio, skills=lines(mentor.skills),
                   availability=[(w.weekday, w.start_minute, w.end_minute) for w in mentors.windows_of(mentor)],
                   timezone=mentor.timezone)


@router.put("/mentors/me", response_model=MentorPublic)
async def save_profile(body: MentorBody, uow: UnitOfWorkDep, now: Now, principal: MentorRole) -> MentorPublic:
    data = mentors.MentorInput(name=body.name, bio=body.bio, skills=body.skills, timezone=body.timezone,
                               availability=[w.window() for w in body.availability])
    return MentorPublic.of(await mentors.save_profile(uow, principal, data, now))


@router.get("/mentors", response_model=list[MentorPublic])
async def list_mentors(session: ReadSessionDep, _principal: CurrentPrincipal, limit: Limit = 50,
                       offset: Offset = 0) -> list[MentorPublic]:
    rows = (await session.execute(select(Mentor).order_by(col(Mentor.name), col(Mentor.id))
                                  .limit(limit).offset(offset))).scalars().all()
    return [MentorPublic.of(row) for row in rows]


class NeedsBody(Strict):
    skills: list[Label] = Field(min_length=1, max_length=30)
    availability: list[WindowBody] = Field(min_length=1, max_length=50)
    skill_weight_pct: int | None = Field(default=None, ge=0, le=100, description="default: the policy's 70")
    limit: int = Field(default=20, ge=1, le=100)


class MatchPublic(BaseModel):
    mentor_id: str
    name: str
    score: float
    skills_part: float
    availability_part: float
    skills_points: float
    availability_points: float
    matched_skills: list[str]
    overlap_minutes: int


class MatchResult(BaseModel):
    skill_weight: float
    availability_weight: float
    policy_version: str
    matches: list[MatchPublic]


@router.post("/mentor-matches", response_model=MatchResult)
async def find_mentors(body: NeedsBody, session: ReadSessionDep, _principal: CurrentPrincipal) -> MatchResult:
    """Rank every mentor for the start-up's needs, with each score's parts (see domain.matching)."""
    weight = (DEFAULT_POLICY.skill_weight if body.skill_weight_pct is None
              else Fraction(body.skill_weight_pct, 100))
    rows = (await session.execute(select(Mentor).limit(5000))).scalars().all()
    by_id = {row.id: row for row in rows}
    needs = Needs(frozenset(body.skills), tuple(w.window() for w in body.availability))
    ranked = match(needs, [mentors.profile_of(row) for row in rows], skill_weight=weight)[:body.limit]
    return MatchResult(
        skill_weight=float(weight), availability_weight=float(1 - weight), policy_version=DEFAULT_POLICY.version,
        matches=[MatchPublic(mentor_id=m.mentor_id, name=by_id[m.mentor_id].name, score=round(float(m.score), 4),
                             skills_part=round(float(m.skills_part), 4),
                             availability_part=round(float(m.availability_part), 4),
                             skills_points=round(float(weight * m.skills_part), 4),
                             availability_points=round(float((1 - weight) * m.availability_part), 4),
                             matched_skills=list(m.matched_skills), overlap_minutes=m.overlap_minutes)
                 for m in ranked])


class SessionBody(Slot):
    topic: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]


@router.post("/mentors/{mentor_id}/sessions", status_code=status.HTTP_201_CREATED, response_model=MentorSession)
async def book_session(mentor_id: ResourceId, body: SessionBody, uow: UnitOfWorkDep, now: Now,
                       principal: Startup) -> MentorSession:
    return await mentors.book_session(uow, principal, mentor_id, body.topic, Interval(body.start, body.end), now)


@router.get("/mentor-sessions/mine", response_model=list[MentorSession])
async def my_sessions(session: ReadSessionDep, principal: CurrentPrincipal, limit: Limit = 100,
                      offset: Offset = 0) -> list[MentorSession]:
    """Sessions the caller booked, or gives as a mentor."""
    return list((await session.execute(
        select(MentorSession).where((col(MentorSession.startup_id) == principal.subject)
                                    | (col(MentorSession.mentor_id) == principal.subject))
        .order_by(col(MentorSession.start_at)).limit(limit).offset(offset))).scalars().all())


class FeedbackBody(Strict):
    rating: int = Field(ge=1, le=5)
    comment: Text = ""


@router.post("/mentor-sessions/{booking_id}/feedback", response_model=MentorSession)
async def feedback(booking_id: ResourceId, body: FeedbackBody, uow: UnitOfWorkDep, now: Now,
                   principal: Startup) -> MentorSession:
    return await mentors.give_feedback(uow, principal, booking_id, body.rating, body.comment, now)


@router.post("/mentor-sessions/{booking_id}/check-in", response_model=BookingPublic)
async def check_in(booking_id: ResourceId, uow: UnitOfWorkDep, now: Now, principal: SessionMentor) -> BookingPublic:
    """The mentor (or an admin for it) checks the start-up in, inside the check-in window (15 minutes either side
    of the start)."""
    return BookingPublic.of(await mentors.check_in_startup(uow, principal, booking_id, now))


@router.post("/mentor-sessions/{booking_id}/cancel", response_model=BookingPublic)
async def cancel(booking_id: ResourceId, uow: UnitOfWorkDep, now: Now, principal: CurrentPrincipal) -> BookingPublic:
    """The start-up or the mentor cancels before the start."""
    return BookingPublic.of(await mentors.cancel_session(uow, principal, booking_id, now))
