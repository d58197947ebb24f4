"""Risk controls on pledges (pure): self-backing and related-party pledges are refused; pledge velocity and a
payment instrument shared by several backers are flagged for review (the pledge stands, a reviewer looks)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from crowdfunding.domain.policy import CrowdfundingPolicy


@dataclass(frozen=True)
class RiskSignal:
    rule: str  # self_backing | related_party | pledge_velocity | same_instrument
    detail: str
    refuse: bool


def self_dealing(backer_id: str, founder_id: str, campaign_organisation_id: str | None,
                 backer_organisations: Collection[str], pledging_organisation_id: str | None,
                 pledging_organisation_owner: str | None) -> RiskSignal | None:
    """The founder, or an organisation related to the campaign (the same one, or one the founder owns), or a
    person owning the campaign's organisation, pledging to its own campaign."""
    if backer_id == founder_id:
        return RiskSignal("self_backing", "the founder may not back their own campaign", True)
    if campaign_organisation_id is not None and campaign_organisation_id in backer_organisations:
        return RiskSignal("related_party", "the backer owns the campaign's organisation", True)
    if pledging_organisation_id is not None and (pledging_organisation_id == campaign_organisation_id
                                                 or pledging_organisation_owner == founder_id):
        return RiskSignal("related_party", "an organisation related to the founder may not back the campaign", True)
    return None


def anomalies(recent_by_backer: int, backers_on_instrument: int, policy: CrowdfundingPolicy) -> list[RiskSignal]:
    """Signals flagged for review: velocity (`recent_by_backer`: the backer's other pledges within the policy's
    window, so this pledge makes one more) and a payment instrument shared by several backers (this one counted)."""
    found = []
    if recent_by_backer + 1 > policy.velocity_limit:
        found.append(RiskSignal("pledge_velocity", f"{recent_by_backer + 1} pledges within "
                                f"{int(policy.velocity_window.total_seconds() // 60)} minutes", False))
    if backers_on_instrument >= policy.same_instrument_backers:
        found.append(RiskSignal("same_instrument", f"one payment instrument used by {backers_on_instrument} "
                                "backers on this campaign", False))
    return found
