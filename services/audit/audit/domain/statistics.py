"""Statistics monitoring (统计监测): which event counts towards which metric, and derived success rates.

Table-driven: each `MetricRule` maps one event type to (crowd, metric), the data field whose value is summed
(fen for money, none for a pure count) and the data field naming the thing the event is about, whose region the
event is counted in. `RegionRule`s say where a thing's region comes from: a region code in the event itself
(a maker-space's registration), or the organisation that posted it (a task, a campaign), whose region is the
administrative division code of its unified social credit code (characters 3-8), as the gateway reports it.
To count more events (crowdsupport's paid vouchers, usage subsidies), add rows to RULES.
Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
UNKNOWN_REGION = "000000"
CROWDS = ("makerspace", "crowdsourcing", "crowdsupport", "crowdfunding")  # 众创 众包 众扶 众筹


@dataclass(frozen=True)
class MetricRule:
    event_type: str
    crowd: str
    metric: str
    key_field: str  # the thing the event is about (its region is looked up)
    amount_field: str | None = None


@dataclass(frozen=True)
class RegionRule:
    """An event that tells the region of a thing: from `region_field` directly, or via an organisation id."""

    event_type: str
    key_field: str
    region_field: str | None = None
    organisation_field: str | None = None


CS, CF, MS = "cn.sizhong.crowdsourcing", "cn.sizhong.crowdfunding", "cn.sizhong.makerspace"
SU = "cn.sizhong.crowdsupport"
RULES: tuple[MetricRule, ...] = (
    MetricRule(f"{CS}.task.posted.v1", "crowdsourcing", "tasks_posted", "task_id", "budget_fen"),
    MetricRule(f"{CS}.task.opened.v1", "crowdsourcing", "tasks_opened", "task_id"),
    MetricRule(f"{CS}.task.completed.v1", "crowdsourcing", "jobs_completed", "task_id"),
    MetricRule(f"{CS}.task.cancelled.v1", "crowdsourcing", "tasks_cancelled", "task_id"),
    MetricRule(f"{CS}.task.expired.v1", "crowdsourcing", "tasks_expired", "task_id"),
    MetricRule(f"{CS}.bid.placed.v1", "crowdsourcing", "bids_placed", "task_id"),
    MetricRule(f"{CS}.escrow.released.v1", "crowdsourcing", "escrow_released", "task_id", "gross_fen"),
    MetricRule(f"{CF}.campaign.launched.v1", "crowdfunding", "campaigns_launched", "campaign_id"),
    MetricRule(f"{CF}.campaign.succeeded.v1", "crowdfunding", "campaigns_succeeded", "campaign_id"),
    MetricRule(f"{CF}.campaign.failed.v1", "crowdfunding", "campaigns_failed", "campaign_id"),
    MetricRule(f"{CF}.pledge.paid.v1", "crowdfunding", "pledges_paid", "campaign_id", "amount_fen"),
    MetricRule(f"{CF}.pledge.refunded.v1", "crowdfunding", "pledges_refunded", "campaign_id", "amount_fen"),
    MetricRule(f"{MS}.space.registered.v1", "makerspace", "spaces_registered", "space_id", "capacity"),
    MetricRule(f"{MS}.application.submitted.v1", "makerspace", "applications_submitted", "space_id"),
    MetricRule(f"{MS}.application.accepted.v1", "makerspace", "applications_accepted", "space_id"),
    MetricRule(f"{MS}.application.rejected.v1", "makerspace", "applications_rejected", "space_id"),
    MetricRule(f"{MS}.application.moved_in.v1", "makerspace", "residents_moved_in", "space_id"),
    MetricRule(f"{MS}.application.graduated.v1", "makerspace", "residents_graduated", "space_id"),
    MetricRule(f"{MS}.booking.placed.v1", "makerspace", "bookings_placed", "space_id"),
    # outcome reports carry cumulative totals; the change since the previous report is what the day adds
    MetricRule(f"{MS}.application.outcome_reported.v1", "makerspace", "jobs_created", "space_id",
               "jobs_created_change"),
    MetricRule(f"{SU}.programme.created.v1", "crowdsupport", "programmes_created", "programme_id", "budget_fen"),
    MetricRule(f"{SU}.voucher.issued.v1", "crowdsupport", "vouchers_issued", "programme_id", "face_fen"),
    MetricRule(f"{SU}.voucher.redeemed.v1", "crowdsupport", "vouchers_redeemed", "programme_id", "voucher_fen"),
    MetricRule(f"{SU}.voucher.redemption_rejected.v1", "crowdsupport", "redemptions_rejected", "programme_id"),
    MetricRule(f"{SU}.instrument.booked.v1", "crowdsupport", "instrument_bookings", "instrument_id"),
    MetricRule(f"{SU}.mentor_session.booked.v1", "crowdsupport", "mentor_sessions", "mentor_id"),
)
REGION_RULES: tuple[RegionRule, ...] = (
    RegionRule("cn.sizhong.identity.organisation.registered.v1", "organisation_id", region_field="region_code"),
    RegionRule(f"{MS}.space.registered.v1", "space_id", region_field="region_code"),
    RegionRule(f"{CS}.task.posted.v1", "task_id", organisation_field="organisation_id"),
    RegionRule(f"{CF}.campaign.created.v1", "campaign_id", organisation_field="organisation_id"),
    RegionRule(f"{SU}.programme.created.v1", "programme_id", region_field="region_code"),
)
# success rate = successes / (successes + failures), per crowd
SUCCESS_RATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "crowdsourcing": ("jobs_completed", ("tasks_cancelled", "tasks_expired")),
    "crowdfunding": ("campaigns_succeeded", ("campaigns_failed",)),
    "makerspace": ("applications_accepted", ("applications_rejected",)),
    "crowdsupport": ("vouchers_redeemed", ("redemptions_rejected",)),
}
RULES_BY_TYPE: dict[str, tuple[MetricRule, ...]] = {}
for _rule in RULES:
    RULES_BY_TYPE[_rule.event_type] = (*RULES_BY_TYPE.get(_rule.event_type, ()), _rule)
REGION_RULES_BY_TYPE: dict[str, RegionRule] = {rule.event_type: rule for rule in REGION_RULES}
METRICS: dict[str, frozenset[str]] = {
    crowd: frozenset({r.metric for r in RULES if r.crowd == crowd} | ({"success_rate"} if crowd in SUCCESS_RATES
                                                                         else set()))
    for crowd in CROWDS
}


@dataclass(frozen=True)
class Increment:
    crowd: str
    metric: str
    key: str | None
    amount: int


def increments(event_type: str, data: dict[str, Any]) -> list[Increment]:
    """What one event adds to the statistics (region resolved by the caller from `key`)."""
    out = []
    for rule in RULES_BY_TYPE.get(event_type, ()):
        raw = data.get(rule.amount_field) if rule.amount_field else 0
        amount = raw if isinstance(raw, int) and not isinstance(raw, bool) else 0
        key = data.get(rule.key_field)
        out.append(Increment(rule.crowd, rule.metric, key if isinstance(key, str) else None, amount))
    return out


def local_day(moment: datetime) -> date:
    """Statistics are kept per calendar day in China (Asia/Shanghai)."""
    return moment.astimezone(SHANGHAI).date()


def success_rate(successes: int, failures: int) -> float | None:
    decided = successes + failures
    return None if decided == 0 else round(successes / decided, 4)
