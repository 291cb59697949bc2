"""Revocable sessions (S17): one row per signed-in session, keyed by the hash of its token.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

A signed-in request is let in only while its row exists, so sessions signed in before this
revision (they carry no token) are signed out once, at the first request after the upgrade.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "two_factor_sessions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("ip_address", sa.String(45), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("remember", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_two_factor_sessions_user_id", "two_factor_sessions", ["user_id"])


def downgrade():
    op.drop_table("two_factor_sessions")
