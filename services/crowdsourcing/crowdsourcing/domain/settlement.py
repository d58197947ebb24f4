"""How escrow is divided (pure, integer fen): prizes among winners, commission (with a red-listed solver's
relief), dispute shares.

The parts of every division add back up to the whole, so the ledger always balances.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise

from shared.money import Money


@dataclass(frozen=True)
class Release:
    """What one solver's share of escrow becomes: paid to the solver, and the platform's commission."""

    gross: Money
    net: Money
    commission: Money
    relief_percent: int = 0  # of the policy's commission, waived for a red-listed solver


def release(gross: Money, commission_rate: Fraction, relief_percent: int = 0) -> Release:
    """The policy's commission on what a solver receives, less the relief a red-listed solver gets (联合激励:
    `relief_percent` of the commission waived, rounded in the solver's favour)."""
    if not 0 <= relief_percent <= 100:
        raise ValueError("a relief is a percentage between 0 and 100")
    charged = gross.share(commission_rate).minor * (100 - relief_percent) // 100
    commission = Money(gross.currency, charged)
    return Release(gross, gross - commission, commission, relief_percent)


def prizes(escrow: Money, slots: int) -> list[Money]:
    """Equal prizes for `slots` winners; split by largest remainder, so they add up to the escrow."""
    if slots < 1:
        raise ValueError("at least one winner")
    return escrow.split([Fraction(1, slots)] * slots)


def pieces(escrow: Money, unit: Money, accepted: int) -> tuple[Money, Money]:
    """(paid for `accepted` pieces, left over) out of a piece-rate escrow."""
    paid = Money(unit.currency, unit.minor * accepted)
    if paid > escrow:
        raise ValueError("more pieces than the escrow covers")
    return paid, escrow - paid


def dispute_split(escrow: Money, solver_percent: int) -> tuple[Money, Money]:
    """The escrow split in stated shares (e.g. 60/40): (the solver's gross, the poster's part). The solver's
    gross is then paid like any other solver's money (`release`: commission, and relief if red-listed)."""
    if not 0 <= solver_percent <= 100:
        raise ValueError("a share is a percentage between 0 and 100")
    solver, poster = escrow.split([Fraction(solver_percent, 100), Fraction(100 - solver_percent, 100)])
    return solver, poster


def ranked_prizes(escrow: Money, weights: list[int]) -> list[Money]:
    """Prizes by rank (1st, 2nd, 3rd ...) in proportion to their stated shares or amounts; equal prizes are equal
    weights. Split by largest remainder (Money.split), so the prizes add up to the escrow exactly."""
    if not weights or any(w <= 0 for w in weights):
        raise ValueError("every rank has a positive share")
    total = sum(weights)
    return escrow.split([Fraction(w, total) for w in weights])


def check_ranks(weights: list[int], basis: str, round_amounts: list[int]) -> str | None:
    """Why ranked prizes are not acceptable (None if they are): ranks never grow (1st >= 2nd >= 3rd); shares in
    percent add up to 100; stated amounts add up to every round's escrow (each milestone is one round)."""
    if any(w <= 0 for w in weights):
        return "every rank's prize is positive"
    if any(later > earlier for earlier, later in pairwise(weights)):
        return "a lower rank never wins more than a higher one"
    if basis == "percent" and sum(weights) != 100:
        return "the shares of the ranks add up to 100"
    if basis == "fen" and any(amount != sum(weights) for amount in round_amounts):
        return "the stated prize amounts add up to each milestone's amount"
    return None
