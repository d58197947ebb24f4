"""Maker-space policy: the numbers, versioned; every booking decision and no-show records the version. Pure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MakerspacePolicy:
    version: str = "makerspace-2026.1"
    # defaults a resource gets when its operator does not say otherwise
    min_notice_minutes: int = 0
    max_notice_minutes: int = 30 * 24 * 60
    min_duration_minutes: int = 30
    max_duration_minutes: int = 4 * 60
    slot_minutes: int = 30
    check_in_opens_before_minutes: int = 15
    check_in_grace_minutes: int = 15
    # the limits an operator may set
    max_notice_limit_minutes: int = 365 * 24 * 60
    max_duration_limit_minutes: int = 7 * 24 * 60
    # credit consequences, scored by the credit service from the no-show event
    no_show_penalty_points: int = 10
    recurring_max_count: int = 52


DEFAULT_POLICY = MakerspacePolicy()
