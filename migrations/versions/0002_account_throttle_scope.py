"""The account throttle scope: its own failure counter beside the sign-in one.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

Failures of settings actions (disable, regenerate, re-authentication) used to share the sign-in
counter, so a stolen session could lock its owner out of signing in.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("two_factor_secrets") as batch:
        batch.add_column(sa.Column("account_failed_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("account_last_failed_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("two_factor_secrets") as batch:
        batch.drop_column("account_last_failed_at")
        batch.drop_column("account_failed_attempts")
