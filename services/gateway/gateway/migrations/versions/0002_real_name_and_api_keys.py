"""Real-name verification of people and organisations, issued API keys and the API-key replica.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

from shared.migrations import create_api_key_replica_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _verification(batch: object) -> None:
    batch.add_column(sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True))  # type: ignore[attr-defined]
    batch.add_column(sa.Column("verification_level", sa.String(60), nullable=True))  # type: ignore[attr-defined]


def upgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("real_name", sa.String(100), nullable=True))
        batch.add_column(sa.Column("resident_id_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("resident_id_sealed", sa.String(300), nullable=True))
        batch.add_column(sa.Column("resident_id_masked", sa.String(32), nullable=True))
        batch.create_unique_constraint("uq_people_resident_id_hash", ["resident_id_hash"])
        _verification(batch)
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("uscc_sealed", sa.String(300), nullable=True))
        _verification(batch)
    op.create_table(
        "identity_api_keys",
        sa.Column("key_id", sa.String(16), primary_key=True),
        sa.Column("subject_id", sa.String(64), sa.ForeignKey("people.id"), nullable=False, index=True),
        sa.Column("roles", sa.String(500), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("issued_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    create_api_key_replica_table()


def downgrade() -> None:
    op.drop_table("api_key_replica")
    op.drop_table("identity_api_keys")
    with op.batch_alter_table("organisations") as batch:
        for column in ("verification_level", "verified_at", "uscc_sealed"):
            batch.drop_column(column)
    with op.batch_alter_table("people") as batch:
        batch.drop_constraint("uq_people_resident_id_hash", type_="unique")
        for column in ("verification_level", "verified_at", "resident_id_masked", "resident_id_sealed",
                       "resident_id_hash", "real_name"):
            batch.drop_column(column)
