"""The initial schema: the privacy units, the DP trainings, and which training touched which unit.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a unit's key as the pipeline hashed it (`grp_<hex>` or `source:<name>`), never a raw id
    op.create_table("units", sa.Column("unit_key", sa.String(255), primary_key=True))
    op.create_table(
        "trainings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(255), nullable=False),
        sa.Column("accountant", sa.String(16), nullable=False),  # the Opacus accountant the run used
        sa.Column("noise_multiplier", sa.Double, nullable=False),
        sa.Column("sample_rate", sa.Double, nullable=False),  # Poisson sampling rate
        sa.Column("steps", sa.Integer, nullable=False),
        sa.Column("delta", sa.Double, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("noise_multiplier > 0 AND sample_rate > 0 AND sample_rate <= 1", name="mechanism"),
        sa.CheckConstraint("steps >= 1 AND delta > 0 AND delta < 1", name="steps_and_delta"),
    )
    op.create_table(
        "unit_trainings",
        sa.Column("unit_key", sa.String(255), sa.ForeignKey("units.unit_key"), primary_key=True),
        sa.Column("training_id", sa.Integer, sa.ForeignKey("trainings.id"), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("unit_trainings")
    op.drop_table("trainings")
    op.drop_table("units")
