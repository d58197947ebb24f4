"""Review checks on a submitted campaign (pure): required fields, the negative list of forbidden industries,
false or misleading advertising (虚假宣传) with the phrase and the field it was found in, and the founder's
real-name verification. Each finding names its rule and field, so the founder knows what to fix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from crowdfunding.domain.policy import CrowdfundingPolicy


@dataclass(frozen=True)
class Finding:
    rule: str  # required_field | negative_list | false_advertising | founder_not_verified | founder_blacklisted
    field: str
    message: str
    phrase: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


@dataclass(frozen=True)
class CampaignText:
    """What review reads: the campaign's fields, and its tiers' texts keyed by field path (tiers[0].title)."""

    kind: str
    title: str
    summary: str
    story: str
    industry: str
    goal_fen: int
    tiers: Sequence[Mapping[str, str]] = ()
    key_information_sheet: str = ""  # equity (EU ECSP: a key investment information sheet per offer)
    risk_statement: str = ""


def false_advertising(texts: Mapping[str, str], phrases: Sequence[str]) -> list[Finding]:
    found = []
    for field_name, text in texts.items():
        lowered = text.casefold()
        for phrase in phrases:
            if phrase.casefold() in lowered:
                found.append(Finding("false_advertising", field_name,
                                     f"虚假宣传: the phrase {phrase!r} is not allowed (promised returns or no-risk "
                                     f"claims)", phrase))
    return found


def review_findings(campaign: CampaignText, policy: CrowdfundingPolicy, *, founder_verified: bool,
                    founder_blacklisted: bool = False) -> list[Finding]:
    findings: list[Finding] = []
    required = {"title": campaign.title, "summary": campaign.summary, "story": campaign.story,
                "industry": campaign.industry}
    if campaign.kind == "equity":
        required["key_information_sheet"] = campaign.key_information_sheet
        required["risk_statement"] = campaign.risk_statement
    for name, value in required.items():
        if not value.strip():
            findings.append(Finding("required_field", name, f"{name} is required"))
    if campaign.goal_fen <= 0:
        findings.append(Finding("required_field", "goal_fen", "a goal is required"))
    if campaign.kind == "reward" and not campaign.tiers:
        findings.append(Finding("required_field", "tiers", "a reward campaign needs at least one reward tier"))
    if campaign.industry in policy.negative_list:
        findings.append(Finding("negative_list", "industry",
                                f"the industry {campaign.industry!r} is on the negative list (市场准入负面清单)"))
    texts = {"title": campaign.title, "summary": campaign.summary, "story": campaign.story,
             "key_information_sheet": campaign.key_information_sheet}
    for n, tier in enumerate(campaign.tiers):
        for key, value in tier.items():
            texts[f"tiers[{n}].{key}"] = value
    findings += false_advertising(texts, policy.forbidden_phrases)
    if not founder_verified:
        findings.append(Finding("founder_not_verified", "organisation_id",
                                "the founder must be real-name verified at the gateway (resident identity number, "
                                "or the founder's organisation by its unified social credit code)"))
    if founder_blacklisted:
        findings.append(Finding("founder_blacklisted", "founder_id", "the founder is on the blacklist"))
    return findings
