"""Mentor matching: a documented ranking for a fixed set of mentors and needs (the table in the README).

Needs: skills {fintech, marketing, ip law}; availability Monday 09:00-12:00 and Wednesday 14:00-16:00
(300 minutes a week). Default weights: skills 70%, availability 30%.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from crowdsupport.domain.matching import MentorProfile, Needs, Window, match, overlap_minutes

MON, TUE, WED = 0, 1, 2


def h(hour: float) -> int:
    return int(hour * 60)


NEEDS = Needs(frozenset({"fintech", "marketing", "ip law"}),
              (Window(MON, h(9), h(12)), Window(WED, h(14), h(16))))
MENTORS = [
    # all three skills, only Monday 10-11 free (60 of 300 minutes)
    MentorProfile("m-alice", frozenset({"FinTech", "Marketing", "IP Law", "hardware"}), (Window(MON, h(10), h(11)),)),
    # two skills, all the wanted time
    MentorProfile("m-bob", frozenset({"fintech", "marketing"}),
                  (Window(MON, h(8), h(13)), Window(WED, h(13), h(17)))),
    # one skill, half the time (Monday 09-10:30 = 90 and Wednesday 14-15 = 60)
    MentorProfile("m-carol", frozenset({"ip law", "biotech"}),
                  (Window(MON, h(9), h(10.5)), Window(WED, h(14), h(15)))),
    # no skill, all the time
    MentorProfile("m-dan", frozenset({"cooking"}), (Window(MON, 0, h(24)), Window(WED, 0, h(24)))),
    # two skills, no overlapping time (Tuesday only)
    MentorProfile("m-erin", frozenset({"marketing", "ip law"}), (Window(TUE, h(9), h(17)),)),
    # same as bob: tie broken by id
    MentorProfile("m-abe", frozenset({"fintech", "marketing"}),
                  (Window(MON, h(9), h(12)), Window(WED, h(14), h(16)))),
]

# mentor, skills part, availability part, score (0.7 * skills + 0.3 * availability)
EXPECTED = [
    ("m-abe", Fraction(2, 3), Fraction(1), Fraction(7, 10) * Fraction(2, 3) + Fraction(3, 10)),  # 0.7667
    ("m-bob", Fraction(2, 3), Fraction(1), Fraction(7, 10) * Fraction(2, 3) + Fraction(3, 10)),  # 0.7667
    ("m-alice", Fraction(1), Fraction(1, 5), Fraction(7, 10) + Fraction(3, 50)),  # 0.76
    ("m-erin", Fraction(2, 3), Fraction(0), Fraction(7, 15)),  # 0.4667
    ("m-carol", Fraction(1, 3), Fraction(1, 2), Fraction(7, 30) + Fraction(3, 20)),  # 0.3833
    ("m-dan", Fraction(0), Fraction(1), Fraction(3, 10)),  # 0.3
]


def test_the_documented_ranking_with_each_scores_parts() -> None:
    ranked = match(NEEDS, MENTORS)
    assert [(m.mentor_id, m.skills_part, m.availability_part, m.score) for m in ranked] == EXPECTED
    alice = next(m for m in ranked if m.mentor_id == "m-alice")
    assert alice.matched_skills == ("fintech", "ip law", "marketing") and alice.overlap_minutes == 60


def test_weights_come_from_the_policy_and_can_be_overridden() -> None:
    skills_only = match(NEEDS, MENTORS, skill_weight=Fraction(1))
    assert [m.mentor_id for m in skills_only][:1] == ["m-alice"]
    time_only = match(NEEDS, MENTORS, skill_weight=Fraction(0))
    assert [m.mentor_id for m in time_only][:3] == ["m-abe", "m-bob", "m-dan"]  # ties: skills part, then id
    with pytest.raises(ValueError):
        match(NEEDS, MENTORS, skill_weight=Fraction(3, 2))


def test_overlapping_windows_are_not_counted_twice() -> None:
    assert overlap_minutes([Window(MON, 0, 120), Window(MON, 60, 180)], [Window(MON, 0, 600)]) == 180


@pytest.mark.parametrize("weekday,start,end", [(7, 0, 10), (0, 10, 10), (0, -1, 10), (0, 0, 24 * 60 + 1)])
def test_a_window_must_be_a_real_weekly_window(weekday: int, start: int, end: int) -> None:
    with pytest.raises(ValueError):
        Window(weekday, start, end)
