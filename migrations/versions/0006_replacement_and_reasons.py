"""Replacing the authenticator app, and why each failure failed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

``two_factor_secrets.replacement_secret``: a new app's secret (encrypted) awaiting its first code
while the current one keeps working. ``two_factor_attempts.reason``: for the settings page's recent
activity (wrong_password, wrong_code, clock_drift, reused_code, locked; NULL for successes).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("two_factor_secrets") as batch:
        batch.add_column(sa.Column("replacement_secret", sa.Text(), nullable=True))
    with op.batch_alter_table("two_factor_attempts") as batch:
        batch.add_column(sa.Column("reason", sa.String(32), nullable=True))


def downgrade():
    with op.batch_alter_table("two_factor_attempts") as batch:
        batch.drop_column("reason")
    with op.batch_alter_table("two_factor_secrets") as batch:
        batch.drop_column("replacement_secret")
