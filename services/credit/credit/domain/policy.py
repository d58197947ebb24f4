"""Credit scoring policy: numbers live here, versioned, and every decision records the version. Pure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CreditPolicy:
    version: str = "credit-2026.1"
    minimum_score: int = 0
    maximum_score: int = 1000
    opening_score: int = 600

    def clamp(self, score: int) -> int:
        return max(self.minimum_score, min(self.maximum_score, score))


DEFAULT_POLICY = CreditPolicy()
