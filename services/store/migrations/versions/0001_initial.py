"""Initial schema: runs, their request records, time series and component figures.

Written by hand. A migration is a frozen snapshot, so it does not import the models;
``test_store_migrations`` checks that the two agree.

Revision ID: 0001
Revises:
Create Date: 2025-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# SQLite only auto-increments an INTEGER PRIMARY KEY; elsewhere rows get 64-bit ids.
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON(none_as_null=True)
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    _create_runs()
    _create_request_records()
    _create_series()
    _create_component_util()


def downgrade() -> None:
    for table in ("component_util", "series", "request_records", "runs"):
        op.drop_table(table)


def _create_runs() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("trace", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("finished_at", UTC_TIME, nullable=True),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("policy", JSON, nullable=False),
        sa.Column("summary", JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("requests_recorded", sa.BigInteger(), nullable=False),
        sa.Column("series_recorded", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_index("ix_runs_created_at", "runs", ["created_at"])


def _row_columns(table: str) -> list[sa.SchemaItem]:
    """The id and run_id columns every record table starts with."""
    return [
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=f"fk_{table}_run_id_runs", ondelete="CASCADE"
        ),
    ]


def _create_request_records() -> None:
    op.create_table(
        "request_records",
        *_row_columns("request_records"),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("replica", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("arrival_s", sa.Double(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("first_token_s", sa.Double(), nullable=True),
        sa.Column("finish_s", sa.Double(), nullable=True),
        sa.Column("preemptions", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_index("ix_request_records_run_id_id", "request_records", ["run_id", "id"])


def _create_series() -> None:
    op.create_table(
        "series",
        *_row_columns("series"),
        sa.Column("t_s", sa.Double(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
    )
    op.create_index("ix_series_run_id_name", "series", ["run_id", "name"])


def _create_component_util() -> None:
    op.create_table(
        "component_util",
        *_row_columns("component_util"),
        sa.Column("component", sa.String(255), nullable=False),
        sa.Column("metric", sa.String(100), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.UniqueConstraint(
            "run_id", "component", "metric", name="uq_component_util_run_id_component_metric"
        ),
    )
