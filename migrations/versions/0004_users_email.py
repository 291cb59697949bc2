"""The demo host's users get an optional e-mail address, where security notices (S19) go.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email", sa.String(254), nullable=True))


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email")
