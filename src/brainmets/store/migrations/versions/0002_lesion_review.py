"""lesion review state and audit before/after

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lesion_reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.String(length=32), nullable=False),
        sa.Column("scan_id", sa.String(length=32), nullable=True),
        sa.Column("lesion_id", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("measurements", sa.JSON(), nullable=True),
        sa.Column("method", sa.String(length=40), nullable=True),
        sa.Column("reviewed_by", sa.String(length=100), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id", "scan_id", "lesion_id", name="uq_review_lesion"),
    )
    with op.batch_alter_table("lesion_reviews", schema=None) as batch_op:
        batch_op.create_index("ix_lesion_reviews_patient_id", ["patient_id"], unique=False)
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("before", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("after", sa.JSON(), nullable=True))
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("review_key", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.drop_column("review_key")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("after")
        batch_op.drop_column("before")
    with op.batch_alter_table("lesion_reviews", schema=None) as batch_op:
        batch_op.drop_index("ix_lesion_reviews_patient_id")
    op.drop_table("lesion_reviews")
