"""Money as integer fen (分) with a currency code; never floats. Pure.

Shares (a 70% release, a 60/40 dispute split, a 10% commission) are computed in integers with an
explicit rounding rule, and splits always add back up to the whole amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated

from pydantic import Field

CURRENCIES = frozenset({"CNY", "USD", "EUR"})
Fen = Annotated[int, Field(ge=0, le=10**15, description="an amount in the currency's minor unit (fen)")]


@dataclass(frozen=True, order=True)
class Money:
    currency: str
    minor: int  # fen for CNY, cents for USD and EUR

    def __post_init__(self) -> None:
        if self.currency not in CURRENCIES:
            raise ValueError(f"unknown currency {self.currency!r}")
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise TypeError("money is an integer number of minor units")

    @classmethod
    def cny(cls, fen: int) -> Money:
        return cls("CNY", fen)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot mix {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.currency, self.minor + other.minor)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.currency, self.minor - other.minor)

    def __neg__(self) -> Money:
        return Money(self.currency, -self.minor)

    def share(self, ratio: Fraction) -> Money:
        """`ratio` of this amount, rounded half up to the minor unit (policy: never a fraction of a fen)."""
        if not 0 <= ratio <= 1:
            raise ValueError("a share is between 0 and 1")
        numerator = self.minor * ratio.numerator
        whole, remainder = divmod(numerator, ratio.denominator)
        return Money(self.currency, whole + (1 if remainder * 2 >= ratio.denominator else 0))

    def split(self, ratios: list[Fraction]) -> list[Money]:
        """Split by ratios that sum to 1 (largest remainder): each part is its exact share rounded down, and
        the fen left over go one each to the parts with the largest remainders (earlier parts first on ties),
        so the parts always add up exactly and none is off by more than one fen."""
        if sum(ratios, Fraction(0)) != 1 or any(r < 0 for r in ratios):
            raise ValueError("split ratios must be non-negative and sum to 1")
        exact = [self.minor * r for r in ratios]
        parts = [int(value.numerator // value.denominator) for value in exact]
        leftover = self.minor - sum(parts)
        by_remainder = sorted(range(len(ratios)), key=lambda i: (-(exact[i] - parts[i]), i))
        for index in by_remainder[:leftover]:
            parts[index] += 1
        return [Money(self.currency, part) for part in parts]

    def __str__(self) -> str:
        sign = "-" if self.minor < 0 else ""
        whole, cents = divmod(abs(self.minor), 100)
        return f"{sign}{self.currency} {whole}.{cents:02d}"
