"""Mentors (创业导师): profiles with skills and weekly availability, sessions booked through the shared booking
engine (inside the mentor's availability), and the start-up's feedback after a session."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from crowdsupport import contracts as ev
from crowdsupport import guards
from crowdsupport.domain.matching import MentorProfile, Window, within_availability
from crowdsupport.domain.policy import DEFAULT_POLICY
from crowdsupport.handlers import booking
from crowdsupport.handlers.common import found, lines, owner_or_admin
from crowdsupport.models import Mentor, MentorSession
from shared.auth import Principal
from shared.booking import store
from shared.booking.models import BookableResource, Booking
from shared.booking.rules import BookingState, Interval, check_in, zone_named
from shared.ids import new_id
from shared.problems import DomainError
from shared.uow import UnitOfWork


def windows_of(mentor: Mentor) -> tuple[Window, ...]:
    return tuple(Window(*w) for w in json.loads(mentor.availability))


def profile_of(mentor: Mentor) -> MentorProfile:
    return MentorProfile(mentor.id, frozenset(lines(mentor.skills)), windows_of(mentor))


@dataclass(frozen=True)
class MentorInput:
    name: str
    bio: str
    skills: list[str]
    availability: list[Window]
    timezone: str


async def save_profile(uow: UnitOfWork, principal: Principal, data: MentorInput, now: datetime) -> Mentor:
    """Create or replace the mentor's own profile; the mentor's bookable time is created once."""
    zone_named(data.timezone)
    skills = "\n".join(dict.fromkeys(s.strip().lower() for s in data.skills if s.strip()))
    availability = json.dumps([[w.weekday, w.start_minute, w.end_minute] for w in data.availability])
    mentor = await uow.session.get(Mentor, principal.subject, with_for_update=True)
    if mentor is None:
        await booking.open_context(uow, principal.subject, DEFAULT_POLICY.mentor_daily_quota_minutes, now)
        resource = BookableResource(
            id=new_id(), context_id=principal.subject, kind="mentor", name=data.name, timezone=data.timezone,
            min_notice_minutes=60, max_notice_minutes=60 * 24 * 60, min_duration_minutes=30,
            max_duration_minutes=4 * 60, slot_minutes=30, requires_approval=False, credits_per_hour=0,
            check_in_opens_before_minutes=15, check_in_grace_minutes=15, created_at=now)
        uow.session.add(resource)
        await uow.session.flush()
        mentor = Mentor(id=principal.subject, name=data.name, bio=data.bio, skills=skills, availability=availability,
                        timezone=data.timezone, resource_id=resource.id, created_at=now, updated_at=now)
        uow.session.add(mentor)
    else:
        mentor.name, mentor.bio, mentor.skills, mentor.availability = data.name, data.bio, skills, availability
        mentor.timezone, mentor.updated_at = data.timezone, now
        resource = await found(uow, BookableResource, mentor.resource_id, "mentor_id")
        resource.timezone, resource.name = data.timezone, data.name
    weekly = sum(w.end_minute - w.start_minute for w in data.availability)
    uow.publish(ev.MentorProfiled(mentor_id=mentor.id, skills=lines(skills), weekly_minutes=weekly),
                subject=mentor.id, actor=principal.subject)
    await uow.commit()
    return mentor


async def book_session(uow: UnitOfWork, principal: Principal, mentor_id: str, topic: str, interval: Interval,
                       now: datetime) -> MentorSession:
    mentor = await found(uow, Mentor, mentor_id, "mentor_id")
    if principal.subject == mentor.id:
        raise DomainError(409, "a mentor does not book a session with themself", field="mentor_id")
    await guards.ensure_may_book(uow, principal.subject)
    zone = zone_named(mentor.timezone)
    if not within_availability(windows_of(mentor), interval.start.astimezone(zone), interval.end.astimezone(zone)):
        raise DomainError(422, "the session is outside the mentor's weekly availability", field="start",
                          rule="availability")
    resource = await found(uow, BookableResource, mentor.resource_id, "mentor_id")
    placed = await booking.place(uow, resource, principal.subject, interval, now, DEFAULT_POLICY.open_access_days)
    session = MentorSession(booking_id=placed.id, mentor_id=mentor.id, startup_id=principal.subject, topic=topic,
                            start_at=placed.start_at, end_at=placed.end_at)
    uow.session.add(session)
    uow.publish(ev.MentorSessionBooked(booking_id=placed.id, mentor_id=mentor.id, startup_id=principal.subject,
                                       topic=topic, start=placed.start_at, end=placed.end_at,
                                       policy_version=DEFAULT_POLICY.version),
                subject=placed.id, actor=principal.subject, partition_key=principal.subject)
    await uow.commit()
    return session


async def give_feedback(uow: UnitOfWork, principal: Principal, booking_id: str, rating: int, comment: str,
                        now: datetime) -> MentorSession:
    """The start-up rates a session once it has ended; once only."""
    session = await found(uow, MentorSession, booking_id, "booking_id", lock=True)
    if principal.subject != session.startup_id:
        raise DomainError(403, "only the start-up that booked the session gives its feedback", field="booking_id")
    if now < session.end_at:
        raise DomainError(409, "feedback opens when the session has ended", field="booking_id",
                          current_state="upcoming")
    placed = await found(uow, Booking, booking_id, "booking_id")
    if placed.state != BookingState.CHECKED_IN:  # cancelled, a no-show, or never checked in: it did not take place
        raise DomainError(409, f"the session is {placed.state}; feedback is for a session that took place "
                               "(checked in by the mentor)", field="booking_id", current_state=placed.state)
    if session.rating is not None:
        raise DomainError(409, "feedback was already given", field="booking_id", current_state="rated")
    session.rating, session.feedback, session.feedback_at = rating, comment, now
    uow.publish(ev.MentorFeedbackGiven(booking_id=session.booking_id, mentor_id=session.mentor_id,
                                       startup_id=session.startup_id, rating=rating),
                subject=session.booking_id, actor=principal.subject, partition_key=session.mentor_id)
    await uow.commit()
    return session


async def check_in_startup(uow: UnitOfWork, principal: Principal, booking_id: str, now: datetime) -> Booking:
    """The session's mentor checks the start-up in, inside the engine's check-in window: the session takes place.
    A session nobody checked in becomes a no-show (the bookings sweep). An admin may act for the mentor."""
    session = await found(uow, MentorSession, booking_id, "booking_id")
    owner_or_admin(principal, session.mentor_id, "booking_id", "the session's mentor")
    placed = await store.load_for_update(uow.session, booking_id)
    resource = await found(uow, BookableResource, placed.resource_id, "mentor_id")
    placed.state = check_in(placed.state, placed.start_at, resource.rules(), now).value
    placed.checked_in_at = now
    uow.publish(ev.MentorSessionCheckedIn(booking_id=placed.id, mentor_id=session.mentor_id,
                                          startup_id=session.startup_id, checked_in_at=now),
                subject=placed.id, actor=principal.subject, partition_key=session.startup_id)
    await uow.commit()
    return placed


async def cancel_session(uow: UnitOfWork, principal: Principal, booking_id: str, now: datetime) -> Booking:
    session = await found(uow, MentorSession, booking_id, "booking_id")
    return await booking.cancel(uow, principal, booking_id, "mentor", {session.startup_id, session.mentor_id}, now)
