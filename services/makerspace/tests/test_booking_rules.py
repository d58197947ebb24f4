"""The booking engine's pure rules, each on both sides of its boundary, with an explicit `now`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.booking.rules import (
    BookingRefused,
    BookingState,
    Interval,
    ResourceRules,
    SubscriptionView,
    TrainingRecordView,
    TrainingView,
    add_months,
    assess,
    check_in,
    credits_for,
    minutes_per_local_day,
    no_show,
    recurring_series,
    transition,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
MIN = timedelta(minutes=1)
RULES = ResourceRules(min_notice=timedelta(hours=1), max_notice=timedelta(days=14),
                      min_duration=timedelta(minutes=30), max_duration=timedelta(hours=3), slot_minutes=30)
SUB = SubscriptionView(plan_name="Basic", starts_at=NOW - timedelta(days=10), ends_at=NOW + timedelta(days=60),
                       credits_remaining=10, daily_quota_minutes=240)
LASER = TrainingView(training_id="t1", name="Laser cutter safety", validity_months=12, lapse_after_days=90)


def at(start: datetime, minutes: int = 60) -> Interval:
    return Interval(start, start + timedelta(minutes=minutes))


def refused_rule(interval: Interval, rules: ResourceRules = RULES, sub: SubscriptionView | None = SUB,
                 **kwargs: object) -> str | None:
    try:
        assess([interval], rules, now=NOW, subscription=sub, **kwargs)  # type: ignore[arg-type]
    except BookingRefused as refused:
        return refused.rule
    return None


H = timedelta(hours=1)


@pytest.mark.parametrize(("name", "interval", "rules", "expected"), [
    ("past: starts now is allowed without notice", at(NOW), replace(RULES, min_notice=timedelta(0)), None),
    ("past: a minute ago is refused", at(NOW - 30 * MIN), replace(RULES, min_notice=timedelta(0)), "past"),
    ("min notice: exactly 1 h ahead", at(NOW + H), RULES, None),
    ("min notice: 30 min ahead", at(NOW + 30 * MIN), RULES, "min_notice"),
    ("max notice: exactly 14 days ahead", at(NOW + timedelta(days=14)), RULES, None),
    ("max notice: 14 days + 30 min", at(NOW + timedelta(days=14, minutes=30)), RULES, "max_notice"),
    ("min duration: 30 min", at(NOW + 2 * H, 30), RULES, None),
    ("min duration: below, on a 15 min grid", at(NOW + 2 * H, 15), replace(RULES, slot_minutes=15),
     "min_duration"),
    ("max duration: 3 h", at(NOW + 2 * H, 180), RULES, None),
    ("max duration: 3 h 30", at(NOW + 2 * H, 210), RULES, "max_duration"),
    ("grid: on the half hour", at(NOW + 2 * H + 30 * MIN), RULES, None),
    ("grid: 10 past", at(NOW + 2 * H + 10 * MIN), RULES, "slot_grid"),
    ("end before start", Interval(NOW + 3 * H, NOW + 2 * H), RULES, "end_before_start"),
])
def test_time_rules(name: str, interval: Interval, rules: ResourceRules, expected: str | None) -> None:
    assert refused_rule(interval, rules) == expected, name


def test_grid_is_in_the_resource_zone() -> None:
    # 09:15 UTC is 15:00 in Kathmandu (+05:45) and 17:15 in Shanghai
    start = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
    assert refused_rule(at(start), replace(RULES, zone=ZoneInfo("Asia/Kathmandu"))) is None
    assert refused_rule(at(start), RULES) == "slot_grid"
    assert refused_rule(at(start + 15 * MIN), RULES) is None


def test_subscription_and_credits_cannot_outlive_it() -> None:
    assert refused_rule(at(NOW + 2 * H), sub=None) == "no_subscription"
    ending = replace(SUB, ends_at=NOW + 3 * H)
    assert refused_rule(at(NOW + 2 * H), sub=ending) is None  # ends exactly at the subscription's end
    assert refused_rule(at(NOW + 2 * H, 90), sub=ending) == "credits_expire"
    assert refused_rule(at(NOW + 2 * H), sub=replace(SUB, ends_at=NOW)) == "subscription_inactive"
    assert refused_rule(at(NOW + 2 * H), sub=replace(SUB, starts_at=NOW + MIN)) == "subscription_inactive"
    with pytest.raises(BookingRefused) as outliving:  # the refusal names the end and when the credits run out
        assess([at(NOW + 2 * H, 90)], RULES, now=NOW, subscription=ending)
    assert (outliving.value.status, outliving.value.field) == (409, "end")
    assert ending.ends_at.isoformat() in outliving.value.detail
    priced = replace(RULES, credits_per_hour=4)
    assert refused_rule(at(NOW + 2 * H, 150), priced, sub=replace(SUB, credits_remaining=10)) is None
    assert refused_rule(at(NOW + 2 * H, 150), priced, sub=replace(SUB, credits_remaining=9)) == "insufficient_credits"
    assert credits_for(at(NOW, 30), 3) == 2 and credits_for(at(NOW, 60), 3) == 3 and credits_for(at(NOW), 0) == 0


def test_daily_quota_per_plan_counts_the_local_day() -> None:
    morning = [at(NOW + 2 * H, 120)]  # 11:00-13:00 Shanghai
    two_more = at(NOW + 5 * H, 120)  # 14:00-16:00: 240 minutes in all, exactly the quota
    assert refused_rule(two_more, already_booked=morning) is None
    assert refused_rule(at(NOW + 5 * H, 150), already_booked=morning) == "daily_quota"
    # the same booking on the next local day does not count against today
    tomorrow = at(NOW + 24 * H + 5 * H, 150)
    assert refused_rule(tomorrow, already_booked=morning) is None
    # Shanghai midnight is 16:00 UTC: 15:00-17:00 UTC is 60 minutes on each local day
    split = minutes_per_local_day([Interval(datetime(2026, 3, 2, 15, tzinfo=UTC),
                                            datetime(2026, 3, 2, 17, tzinfo=UTC))], SHANGHAI)
    assert sorted(split.values()) == [60, 60]


def test_training_required_expiry_and_lapse() -> None:
    rules = replace(RULES, required_training=LASER, max_notice=timedelta(days=365))
    long_sub = replace(SUB, ends_at=NOW + timedelta(days=400))
    certified = NOW - timedelta(days=30)
    fresh = TrainingRecordView(certified_at=certified, last_used_at=None)
    assert refused_rule(at(NOW + 2 * H), rules) == "training"
    assert refused_rule(at(NOW + 2 * H), rules, training_record=fresh) is None
    # validity: 12 months from certification (Shanghai calendar); a slot starting then is refused
    valid_until = add_months(certified, 12)
    last_inside = valid_until - 30 * MIN - H
    assert refused_rule(at(last_inside), rules, long_sub, training_record=fresh) is None
    assert refused_rule(at(valid_until), rules, long_sub, training_record=fresh) == "training"
    # lapse: 90 days unused since the last use (or the certification)
    used = TrainingRecordView(certified_at=NOW - timedelta(days=200), last_used_at=NOW - timedelta(days=89, hours=23))
    lapsed = TrainingRecordView(certified_at=NOW - timedelta(days=200), last_used_at=NOW - timedelta(days=90))
    assert refused_rule(at(NOW + 2 * H), rules, training_record=used) is None
    assert refused_rule(at(NOW + 2 * H), rules, training_record=lapsed) == "training"
    with pytest.raises(BookingRefused) as refused:
        assess([at(NOW + 2 * H)], rules, now=NOW, subscription=SUB, training_record=lapsed)
    assert "Laser cutter safety" in refused.value.detail and "lapsed" in refused.value.detail
    assert refused.value.status == 403
    renewed = TrainingRecordView(certified_at=NOW, last_used_at=None)
    assert refused_rule(at(NOW + 2 * H), rules, training_record=renewed) is None


def test_add_months_clamps_to_the_end_of_the_month() -> None:
    jan31 = datetime(2026, 1, 31, 2, 0, tzinfo=UTC)  # 10:00 Shanghai
    assert add_months(jan31, 1) == datetime(2026, 2, 28, 2, 0, tzinfo=UTC)
    assert add_months(jan31, 12) == datetime(2027, 1, 31, 2, 0, tzinfo=UTC)


def test_approval_decides_the_initial_state() -> None:
    assert assess([at(NOW + 2 * H)], RULES, now=NOW, subscription=SUB).state is BookingState.CONFIRMED
    gated = replace(RULES, requires_approval=True)
    assert assess([at(NOW + 2 * H)], gated, now=NOW, subscription=SUB).state is BookingState.PENDING


def test_check_in_window_and_no_show() -> None:
    start = NOW + 2 * H
    opens, closes = start - 15 * MIN, start + 15 * MIN
    with pytest.raises(BookingRefused):
        check_in("confirmed", start, RULES, opens - MIN)
    assert check_in("confirmed", start, RULES, opens) is BookingState.CHECKED_IN
    assert check_in("confirmed", start, RULES, closes - MIN) is BookingState.CHECKED_IN
    with pytest.raises(BookingRefused):
        check_in("confirmed", start, RULES, closes)
    with pytest.raises(BookingRefused):
        check_in("pending", start, RULES, start)
    with pytest.raises(BookingRefused):
        no_show("confirmed", start, RULES, closes - MIN)
    assert no_show("confirmed", start, RULES, closes) is BookingState.NO_SHOW


def test_illegal_transitions_name_the_current_state() -> None:
    with pytest.raises(BookingRefused) as refused:
        transition("cancelled", BookingState.CONFIRMED)
    assert refused.value.status == 409 and "'cancelled'" in refused.value.detail
    assert refused.value.extra["current_state"] == "cancelled"


@pytest.mark.parametrize(("zone", "first", "dst_day"), [
    ("Europe/Berlin", datetime(2026, 3, 20, 10, 0), datetime(2026, 3, 29)),  # CET -> CEST on 29 March
    ("America/New_York", datetime(2026, 10, 26, 18, 30), datetime(2026, 11, 1)),  # EDT -> EST on 1 November
])
def test_recurring_bookings_keep_local_wall_time_across_dst(zone: str, first: datetime, dst_day: datetime) -> None:
    tz = ZoneInfo(zone)
    series = recurring_series(first, tz, timedelta(hours=2), every_days=7, count=3)
    local = [i.start.astimezone(tz) for i in series]
    assert [(t.hour, t.minute) for t in local] == [(first.hour, first.minute)] * 3
    utc_hours = {i.start.hour for i in series}
    assert len(utc_hours) == 2  # the UTC time moved by an hour across the change
    assert local[0].utcoffset() != local[-1].utcoffset()
    assert all(i.duration == timedelta(hours=2) for i in series)
    assert series[0].start < dst_day.replace(tzinfo=tz) < series[-1].start


def test_a_wall_time_that_does_not_exist_is_refused() -> None:
    with pytest.raises(BookingRefused) as refused:
        recurring_series(datetime(2026, 3, 22, 2, 30), ZoneInfo("Europe/Berlin"), H, every_days=7, count=2)
    assert refused.value.rule == "nonexistent_local_time"


def test_requested_slots_may_not_overlap_each_other() -> None:
    with pytest.raises(BookingRefused) as refused:
        assess([at(NOW + 2 * H), at(NOW + 2 * H + 30 * MIN)], RULES, now=NOW, subscription=SUB)
    assert refused.value.rule == "overlapping_request"
