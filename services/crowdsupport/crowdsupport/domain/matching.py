"""Mentor matching, pure: skills (70%) and weekly availability overlap (30%) by default (policy weights).

- skills part: the share of the start-up's needed skills the mentor has (case-insensitive), 0..1;
- availability part: the share of the start-up's wanted weekly minutes the mentor is available, 0..1;
- score = skill_weight * skills + availability_weight * availability, rounded to 4 decimals for display
  (ranking uses the exact fractions). Ties: higher skills part first, then mentor id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from fractions import Fraction

from crowdsupport.domain.policy import DEFAULT_POLICY, CrowdsupportPolicy

MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class Window:
    """A weekly window: weekday 0 (Monday) .. 6, minutes from local midnight [start, end)."""

    weekday: int
    start_minute: int
    end_minute: int

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError("weekday is 0 (Monday) .. 6 (Sunday)")
        if not 0 <= self.start_minute < self.end_minute <= MINUTES_PER_DAY:
            raise ValueError("a window starts before it ends, inside one day")


@dataclass(frozen=True)
class MentorProfile:
    mentor_id: str
    skills: frozenset[str]
    availability: tuple[Window, ...]


@dataclass(frozen=True)
class Needs:
    skills: frozenset[str]
    availability: tuple[Window, ...]


@dataclass(frozen=True)
class Match:
    mentor_id: str
    skills_part: Fraction
    availability_part: Fraction
    score: Fraction
    matched_skills: tuple[str, ...]
    overlap_minutes: int


def _normalise(skills: Iterable[str]) -> frozenset[str]:
    return frozenset(s.strip().lower() for s in skills if s.strip())


def _minutes(windows: Iterable[Window]) -> dict[int, set[int]]:
    """Per weekday, the set of covered minutes (windows may overlap each other)."""
    days: dict[int, set[int]] = {}
    for window in windows:
        days.setdefault(window.weekday, set()).update(range(window.start_minute, window.end_minute))
    return days


def overlap_minutes(first: Iterable[Window], second: Iterable[Window]) -> int:
    a, b = _minutes(first), _minutes(second)
    return sum(len(a[day] & b.get(day, set())) for day in a)


def match(needs: Needs, mentors: Sequence[MentorProfile], policy: CrowdsupportPolicy = DEFAULT_POLICY,
          skill_weight: Fraction | None = None) -> list[Match]:
    """Every mentor scored and ranked best first."""
    w_skills = policy.skill_weight if skill_weight is None else skill_weight
    if not 0 <= w_skills <= 1:
        raise ValueError("the skill weight is between 0 and 1")
    w_time = 1 - w_skills
    wanted = _normalise(needs.skills)
    wanted_minutes = sum(len(m) for m in _minutes(needs.availability).values())
    results = []
    for mentor in mentors:
        has = _normalise(mentor.skills)
        common = tuple(sorted(wanted & has))
        skills_part = Fraction(len(common), len(wanted)) if wanted else Fraction(0)
        overlap = overlap_minutes(needs.availability, mentor.availability)
        time_part = Fraction(overlap, wanted_minutes) if wanted_minutes else Fraction(0)
        results.append(Match(mentor.mentor_id, skills_part, time_part, w_skills * skills_part + w_time * time_part,
                             common, overlap))
    return sorted(results, key=lambda m: (-m.score, -m.skills_part, m.mentor_id))


def within_availability(windows: Iterable[Window], local_start: datetime, local_end: datetime) -> bool:
    """Whether a session [local_start, local_end) on one local day lies inside the mentor's weekly windows."""
    if local_start.date() != local_end.date() and not (local_end.time() == time(0) and
                                                       local_end.date() == local_start.date() + timedelta(days=1)):
        return False
    start = local_start.hour * 60 + local_start.minute
    end = start + int((local_end - local_start).total_seconds() // 60)
    covered = _minutes(windows).get(local_start.weekday(), set())
    return all(minute in covered for minute in range(start, end))
