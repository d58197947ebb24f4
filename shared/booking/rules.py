"""The booking engine's rules, pure: no I/O, no clock. Every function takes `now` from its caller.

Used by the maker-space service (rooms, equipment) and meant for crowd-support (shared instruments, mentor
sessions). Times are timezone-aware; the engine reasons in the resource's own IANA zone (slot grid, daily
quota days, recurring wall-clock times) and stores UTC.

A refusal is a `BookingRefused` naming the rule, carrying the HTTP status the service answers with:
422 for a request that can never be right as asked (past, notice, duration, grid), 409 for a conflict with
current state (slot taken, quota used up, credits short or outliving the subscription), 403 for a member
who is not entitled (no subscription, missing, expired or lapsed training).
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.problems import DomainError

PLATFORM_ZONE = ZoneInfo("Asia/Shanghai")


class BookingRefused(DomainError):
    """A booking (or a step of one) refused by a named rule."""

    def __init__(self, status: int, rule: str, detail: str, field: str | None = None, **extra: object) -> None:
        super().__init__(status, detail, field=field, rule=rule, **extra)
        self.rule = rule


class BookingState(StrEnum):
    PENDING = "pending"  # waiting for the operator's approval; holds the slot meanwhile
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    CHECKED_IN = "checked_in"
    NO_SHOW = "no_show"


ACTIVE_STATES = frozenset({BookingState.PENDING, BookingState.CONFIRMED, BookingState.CHECKED_IN})
"""States that hold their slot: any overlap with one of these is a conflict."""

TRANSITIONS: dict[BookingState, frozenset[BookingState]] = {
    BookingState.PENDING: frozenset({BookingState.CONFIRMED, BookingState.REJECTED, BookingState.CANCELLED}),
    BookingState.CONFIRMED: frozenset({BookingState.CHECKED_IN, BookingState.NO_SHOW, BookingState.CANCELLED}),
    BookingState.REJECTED: frozenset(),
    BookingState.CANCELLED: frozenset(),
    BookingState.CHECKED_IN: frozenset(),
    BookingState.NO_SHOW: frozenset(),
}


def transition(current: str, target: BookingState) -> BookingState:
    """The next state, or a 409 naming the current state."""
    state = BookingState(current)
    if target not in TRANSITIONS[state]:
        raise BookingRefused(409, "illegal_transition",
                             f"the booking is in state {state.value!r}; it cannot become {target.value!r}",
                             field="state", current_state=state.value)
    return target


@dataclass(frozen=True)
class ResourceRules:
    """What a resource allows. Durations are timedeltas; `slot_minutes` is the grid in local time."""

    zone: ZoneInfo = PLATFORM_ZONE
    min_notice: timedelta = timedelta(0)
    max_notice: timedelta = timedelta(days=30)
    min_duration: timedelta = timedelta(minutes=30)
    max_duration: timedelta = timedelta(hours=4)
    slot_minutes: int = 30
    requires_approval: bool = False
    credits_per_hour: int = 0
    check_in_opens_before: timedelta = timedelta(minutes=15)
    check_in_grace: timedelta = timedelta(minutes=15)
    required_training: TrainingView | None = None


@dataclass(frozen=True)
class SubscriptionView:
    """The member's subscription in the resource's context: its plan's quota and the credits left."""

    plan_name: str
    starts_at: datetime
    ends_at: datetime
    credits_remaining: int
    daily_quota_minutes: int


@dataclass(frozen=True)
class TrainingView:
    """A training a resource requires: how long a certification lasts and when it lapses unused."""

    training_id: str
    name: str
    validity_months: int
    lapse_after_days: int


@dataclass(frozen=True)
class TrainingRecordView:
    certified_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def overlaps(self, other: Interval) -> bool:
        """Half-open [start, end): back-to-back slots do not overlap."""
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class Assessment:
    """An accepted request: the state the bookings start in and the credits each costs."""

    state: BookingState
    credits: list[int] = field(default_factory=list)

    @property
    def total_credits(self) -> int:
        return sum(self.credits)


def zone_named(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BookingRefused(422, "timezone", f"unknown IANA time zone {name!r}", field="timezone") from exc


def add_months(moment: datetime, months: int, zone: ZoneInfo = PLATFORM_ZONE) -> datetime:
    """Same local wall time `months` calendar months later (day clamped to the month's end), as UTC."""
    local = moment.astimezone(zone)
    month_index = local.month - 1 + months
    year, month = local.year + month_index // 12, month_index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local_to_utc(local.replace(tzinfo=None, year=year, month=month, day=day), zone, strict=False)


def local_to_utc(local: datetime, zone: ZoneInfo, *, strict: bool = True) -> datetime:
    """A naive local wall time in `zone` as UTC. An ambiguous time (clocks going back) takes its first
    occurrence; a time that does not exist (clocks going forward) is refused when `strict`."""
    aware = local.replace(tzinfo=zone, fold=0)
    utc = aware.astimezone(UTC)
    if strict and utc.astimezone(zone).replace(tzinfo=None) != local:
        raise BookingRefused(422, "nonexistent_local_time",
                             f"{local.isoformat()} does not exist in {zone.key} (clocks go forward)",
                             field="local_start")
    return utc


def recurring_series(first_local: datetime, zone: ZoneInfo, duration: timedelta, every_days: int,
                     count: int) -> list[Interval]:
    """`count` occurrences `every_days` apart at the same local wall time in `zone`, across DST changes."""
    if first_local.tzinfo is not None:
        raise BookingRefused(422, "recurrence", "local_start is a wall time without offset", field="local_start")
    intervals = []
    for index in range(count):
        start = local_to_utc(first_local + timedelta(days=every_days * index), zone)
        intervals.append(Interval(start, start + duration))
    return intervals


def minutes_per_local_day(intervals: Iterable[Interval], zone: ZoneInfo) -> dict[date, int]:
    """Booked minutes on each local calendar day of `zone` (an interval across midnight is split)."""
    days: dict[date, int] = {}
    for interval in intervals:
        cursor = interval.start
        while cursor < interval.end:
            local_day = cursor.astimezone(zone).date()
            next_midnight = local_day_bounds(local_day, zone)[1]
            piece_end = min(interval.end, next_midnight)
            days[local_day] = days.get(local_day, 0) + math.ceil((piece_end - cursor).total_seconds() / 60)
            cursor = piece_end
    return days


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC of a local calendar day (23 or 25 hours long on a DST change)."""
    start = local_to_utc(datetime.combine(day, time()), zone, strict=False)
    end = local_to_utc(datetime.combine(day + timedelta(days=1), time()), zone, strict=False)
    return start, end


def credits_for(interval: Interval, credits_per_hour: int) -> int:
    """Credits per started half hour at the hourly rate (rounded up)."""
    if credits_per_hour <= 0:
        return 0
    half_hours = math.ceil(interval.duration.total_seconds() / 1800)
    return math.ceil(half_hours * credits_per_hour / 2)


def training_problem(training: TrainingView, record: TrainingRecordView | None, starts_at: datetime,
                     now: datetime) -> str | None:
    """Why the member may not use a resource needing `training` (None when they may). The certification
    must still be valid when the slot starts and must not have lapsed by `now` (unused for too long)."""
    if record is None:
        return f"the training {training.name!r} is required to book this resource"
    valid_until = add_months(record.certified_at, training.validity_months)
    if starts_at >= valid_until:
        return (f"the training {training.name!r} is valid until {valid_until.isoformat()}, before this slot "
                "starts; renew it to book")
    last_use = max(record.certified_at, record.last_used_at or record.certified_at)
    lapses_at = last_use + timedelta(days=training.lapse_after_days)
    if now >= lapses_at:
        return (f"the training {training.name!r} lapsed on {lapses_at.isoformat()} after "
                f"{training.lapse_after_days} days unused; renew it to book")
    return None


def assess(requested: Sequence[Interval], rules: ResourceRules, *, now: datetime,
           subscription: SubscriptionView | None, training_record: TrainingRecordView | None = None,
           already_booked: Iterable[Interval] = ()) -> Assessment:
    """Check every rule for the member's request (one or more slots of one resource) at `now`.

    `already_booked` are the member's active bookings in the same context on the days concerned (for the
    daily quota). Slot conflicts with other bookings are the store's business (it holds the locks).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not requested:
        raise BookingRefused(422, "empty", "no slot requested", field="start")
    for interval in requested:
        _check_times(interval, rules, now)
    ordered = sorted(requested, key=lambda i: i.start)
    for earlier, later in pairwise(ordered):
        if earlier.overlaps(later):
            raise BookingRefused(422, "overlapping_request", "the requested slots overlap each other",
                                 field="count")

    if subscription is None:
        raise BookingRefused(403, "no_subscription", "an active subscription in this space is required to book",
                             field="subscription")
    if now < subscription.starts_at or now >= subscription.ends_at:
        raise BookingRefused(403, "subscription_inactive",
                             f"the subscription runs from {subscription.starts_at.isoformat()} to "
                             f"{subscription.ends_at.isoformat()}", field="subscription")
    for interval in requested:
        if interval.start < subscription.starts_at:
            raise BookingRefused(409, "before_subscription",
                                 f"the slot starts before the subscription ({subscription.starts_at.isoformat()})",
                                 field="start")
        if interval.end > subscription.ends_at:
            raise BookingRefused(409, "credits_expire",
                                 "credits cannot be used past the end of the subscription "
                                 f"({subscription.ends_at.isoformat()}); the slot ends later", field="end")

    credits = [credits_for(interval, rules.credits_per_hour) for interval in requested]
    if sum(credits) > subscription.credits_remaining:
        raise BookingRefused(409, "insufficient_credits",
                             f"the booking costs {sum(credits)} credits; {subscription.credits_remaining} left",
                             field="credits")

    used = minutes_per_local_day(already_booked, rules.zone)
    wanted = minutes_per_local_day(requested, rules.zone)
    for day, minutes in sorted(wanted.items()):
        if used.get(day, 0) + minutes > subscription.daily_quota_minutes:
            raise BookingRefused(409, "daily_quota",
                                 f"the plan {subscription.plan_name!r} allows {subscription.daily_quota_minutes} "
                                 f"minutes a day; {used.get(day, 0)} already booked on {day.isoformat()}",
                                 field="end")

    if rules.required_training is not None:
        # valid at the last slot's start means valid at every earlier one
        reason = training_problem(rules.required_training, training_record, ordered[-1].start, now)
        if reason is not None:
            raise BookingRefused(403, "training", reason, field="training")

    state = BookingState.PENDING if rules.requires_approval else BookingState.CONFIRMED
    return Assessment(state=state, credits=credits)


def _check_times(interval: Interval, rules: ResourceRules, now: datetime) -> None:
    if interval.start.tzinfo is None or interval.end.tzinfo is None:
        raise BookingRefused(422, "naive_time", "times need a UTC offset", field="start")
    if interval.end <= interval.start:
        raise BookingRefused(422, "end_before_start", "the slot must end after it starts", field="end")
    if interval.start < now:
        raise BookingRefused(422, "past", f"the slot starts in the past ({interval.start.isoformat()})",
                             field="start")
    notice = interval.start - now
    if notice < rules.min_notice:
        raise BookingRefused(422, "min_notice", f"book at least {_human(rules.min_notice)} ahead", field="start")
    if notice > rules.max_notice:
        raise BookingRefused(422, "max_notice", f"book at most {_human(rules.max_notice)} ahead", field="start")
    if interval.duration < rules.min_duration:
        raise BookingRefused(422, "min_duration", f"a booking lasts at least {_human(rules.min_duration)}",
                             field="end")
    if interval.duration > rules.max_duration:
        raise BookingRefused(422, "max_duration", f"a booking lasts at most {_human(rules.max_duration)}",
                             field="end")
    for name, moment in (("start", interval.start), ("end", interval.end)):
        local = moment.astimezone(rules.zone)
        if local.second or local.microsecond or (local.hour * 60 + local.minute) % rules.slot_minutes:
            raise BookingRefused(422, "slot_grid",
                                 f"{name} must fall on the {rules.slot_minutes}-minute grid in {rules.zone.key} "
                                 f"(local {local.strftime('%H:%M:%S')})", field=name)


def check_in_window(start: datetime, rules: ResourceRules) -> tuple[datetime, datetime]:
    """[opens, closes) of check-in for a slot starting at `start`."""
    return start - rules.check_in_opens_before, start + rules.check_in_grace


def check_in(state: str, start: datetime, rules: ResourceRules, now: datetime) -> BookingState:
    """Check in at `now`: only a confirmed booking, only inside its window."""
    target = transition(state, BookingState.CHECKED_IN)
    opens, closes = check_in_window(start, rules)
    if now < opens:
        raise BookingRefused(409, "check_in_window", f"check-in opens at {opens.isoformat()}", field="now")
    if now >= closes:
        raise BookingRefused(409, "check_in_window", f"check-in closed at {closes.isoformat()}", field="now")
    return target


def no_show(state: str, start: datetime, rules: ResourceRules, now: datetime) -> BookingState:
    """Mark a confirmed booking a no-show: only once its check-in window has closed."""
    target = transition(state, BookingState.NO_SHOW)
    closes = check_in_window(start, rules)[1]
    if now < closes:
        raise BookingRefused(409, "check_in_window",
                             f"the check-in window is open until {closes.isoformat()}", field="now")
    return target


def _human(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes % (24 * 60) == 0 and minutes:
        return f"{minutes // (24 * 60)} day(s)"
    if minutes % 60 == 0 and minutes:
        return f"{minutes // 60} hour(s)"
    return f"{minutes} minute(s)"
