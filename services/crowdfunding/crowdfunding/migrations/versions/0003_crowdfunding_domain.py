"""Crowdfunding domain: campaigns and their transitions, reward tiers, pledges, campaign payouts, investor
profiles, risk flags.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _at(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id(name: str = "id", *args: object, **kwargs: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.String(64), *args, **kwargs)  # type: ignore[arg-type]


def _money(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.BigInteger, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        _id(primary_key=True),
        _id("founder_id", nullable=False, index=True),
        _id("organisation_id", nullable=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("funding_mode", sa.String(20), nullable=False),
        sa.Column("equity_profile", sa.String(12), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("summary", sa.String(1000), nullable=False),
        sa.Column("story", sa.String(20000), nullable=False),
        sa.Column("industry", sa.String(40), nullable=False),
        sa.Column("key_information_sheet", sa.String(20000), nullable=False),
        sa.Column("risk_statement", sa.String(4000), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        _money("goal_fen"),
        _money("minimum_goal_fen", nullable=True),
        sa.Column("duration_days", sa.Integer, nullable=False),
        sa.Column("payout_party", sa.String(120), nullable=False),
        sa.Column("state", sa.String(20), nullable=False, index=True),
        _at("state_since"),
        sa.Column("round", sa.Integer, nullable=False),
        _at("launched_at", nullable=True),
        _at("deadline", nullable=True),
        _at("round_one_ends", nullable=True),
        _money("raised_fen"),
        sa.Column("progress_mark", sa.Integer, nullable=False),
        sa.Column("review_findings", sa.String(20000), nullable=False),
        _at("delivery_due", nullable=True),
        _at("delivery_recorded_at", nullable=True),
        _at("delivery_missed_at", nullable=True),
        _at("refunds_started_at", nullable=True),
        _at("first_tranche_at", nullable=True),
        _at("second_tranche_at", nullable=True),
        _at("material_change_at", nullable=True),
        sa.Column("policy_version", sa.String(40), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.CheckConstraint("goal_fen > 0", name="ck_campaigns_goal_positive"),
    )
    op.create_table(
        "campaign_transitions",
        _id(primary_key=True),
        _id("campaign_id", sa.ForeignKey("campaigns.id"), nullable=False, index=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("from_state", sa.String(20), nullable=False),
        sa.Column("to_state", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("why", sa.String(2000), nullable=False),
        _at("at"),
    )
    op.create_index("ux_campaign_transitions_seq", "campaign_transitions", ["campaign_id", "seq"], unique=True)
    op.create_table(
        "reward_tiers",
        _id(primary_key=True),
        _id("campaign_id", sa.ForeignKey("campaigns.id"), nullable=False, index=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.String(4000), nullable=False),
        _money("price_fen"),
        sa.Column("units_limit", sa.Integer, nullable=True),
        sa.Column("units_taken", sa.Integer, nullable=False),
        _at("delivery_date"),
        sa.Column("shipping", sa.String(4000), nullable=False),
        sa.CheckConstraint("units_taken >= 0 AND (units_limit IS NULL OR units_taken <= units_limit)",
                           name="ck_reward_tiers_never_oversold"),
    )
    op.create_table(
        "pledges",
        _id(primary_key=True),
        _id("campaign_id", sa.ForeignKey("campaigns.id"), nullable=False, index=True),
        _id("tier_id", sa.ForeignKey("reward_tiers.id"), nullable=True),
        _id("backer_id", nullable=False, index=True),
        _id("organisation_id", nullable=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        _money("amount_fen"),
        sa.Column("shipping_region", sa.String(6), nullable=True),
        _money("shipping_fen"),
        sa.Column("payment_party", sa.String(120), nullable=False),
        sa.Column("instrument_hash", sa.String(64), nullable=False, index=True),
        sa.Column("state", sa.String(20), nullable=False, index=True),
        sa.Column("reason", sa.String(60), nullable=True),
        sa.Column("payment_reference", sa.String(120), nullable=True),
        sa.Column("flagged", sa.Boolean, nullable=False),
        sa.Column("decision_rule", sa.String(60), nullable=True),
        sa.Column("policy_version", sa.String(40), nullable=False),
        sa.Column("consent_given", sa.Boolean, nullable=False),
        _at("reconfirm_by", nullable=True),
        _at("placed_at"),
        _at("paid_at", nullable=True),
        _at("closed_at", nullable=True),
        _at("delivery_confirmed_at", nullable=True),
    )
    op.create_table(
        "campaign_payouts",
        _id(primary_key=True),
        _id("campaign_id", sa.ForeignKey("campaigns.id"), nullable=False, index=True),
        _id("pledge_id", nullable=True),
        sa.Column("kind", sa.String(10), nullable=False),
        _id("party_id", nullable=False, index=True),
        sa.Column("party", sa.String(120), nullable=False),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        _money("amount_fen"),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("cause", sa.String(200), nullable=False),
        sa.Column("status", sa.String(10), nullable=False, index=True),
        sa.Column("reference", sa.String(120), nullable=True),
        sa.Column("failure", sa.String(300), nullable=True),
        _at("created_at"),
        _at("settled_at", nullable=True),
    )
    op.create_table(
        "investor_profiles",
        _id("investor_id", primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        _money("annual_income"),
        _money("net_worth"),
        _money("financial_assets"),
        _money("entity_net_assets"),
        sa.Column("accredited", sa.Boolean, nullable=False),
        sa.Column("sophisticated", sa.Boolean, nullable=False),
        _at("knowledge_test_passed_at", nullable=True),
        _at("loss_simulation_at", nullable=True),
        _at("updated_at"),
    )
    op.create_table(
        "risk_flags",
        _id(primary_key=True),
        _id("campaign_id", sa.ForeignKey("campaigns.id"), nullable=False, index=True),
        _id("pledge_id", nullable=True),
        _id("subject_id", nullable=False),
        sa.Column("rule", sa.String(40), nullable=False),
        sa.Column("detail", sa.String(500), nullable=False),
        sa.Column("state", sa.String(10), nullable=False, index=True),
        _at("created_at"),
        sa.Column("reviewed_by", sa.String(200), nullable=True),
        _at("reviewed_at", nullable=True),
    )


def downgrade() -> None:
    for table in ("risk_flags", "investor_profiles", "campaign_payouts", "pledges", "reward_tiers",
                  "campaign_transitions", "campaigns"):
        op.drop_table(table)
