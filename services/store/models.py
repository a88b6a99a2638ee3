"""ORM tables of the run store: one row per run, and what each run recorded.

The schema itself is created by the Alembic migrations in ``migrations/versions``;
these classes must match them, and ``test_store_migrations`` checks that they do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Fixed constraint names, so migrations can refer to them on every backend.
NAMING = {
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; elsewhere rows get 64-bit ids.
ROW_ID = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        float: Double(),
        # none_as_null: a missing summary is SQL NULL, not the JSON text 'null'.
        dict[str, Any]: JSON(none_as_null=True),
        datetime: DateTime(timezone=True),
    }


def _run_fk() -> Any:
    return mapped_column(String(32), ForeignKey("runs.id", ondelete="CASCADE"))


class RunModel(Base):
    """One replay or sweep: its inputs, its status and, once finished, its summary."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_status", "status"), Index("ix_runs_created_at", "created_at"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    trace: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    spec: Mapped[dict[str, Any]]
    policy: Mapped[dict[str, Any]]
    summary: Mapped[dict[str, Any] | None]
    error: Mapped[str] = mapped_column(Text, default="")
    requests_recorded: Mapped[int] = mapped_column(BigInteger, default=0)
    series_recorded: Mapped[int] = mapped_column(BigInteger, default=0)
    # Which process drives a RUNNING run, and until when it holds it: each stored batch renews
    # the lease, and another process takes the run over only once the lease has expired.
    owner: Mapped[str] = mapped_column(String(128), default="")
    lease_expires_at: Mapped[datetime | None]


class RequestModel(Base):
    """One `twin.metrics.RequestRecord`; the row id keeps the order the core recorded them in."""

    __tablename__ = "request_records"
    __table_args__ = (Index("ix_request_records_run_id_id", "run_id", "id"),)

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = _run_fk()
    request_id: Mapped[int] = mapped_column(BigInteger)
    replica: Mapped[int]
    state: Mapped[str] = mapped_column(String(32))
    arrival_s: Mapped[float]
    input_tokens: Mapped[int]
    output_tokens: Mapped[int]
    first_token_s: Mapped[float | None]
    finish_s: Mapped[float | None]
    preemptions: Mapped[int]
    reason: Mapped[str] = mapped_column(Text, default="")


class SeriesModel(Base):
    """One `twin.metrics.SeriesSample`. A NULL value is a NaN (SQLite stores NaN as NULL)."""

    __tablename__ = "series"
    __table_args__ = (Index("ix_series_run_id_name", "run_id", "name"),)

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = _run_fk()
    t_s: Mapped[float]
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[float | None]


class ComponentModel(Base):
    """A final per-component figure, e.g. ('replica0/chip3/hbm', 'util', 0.71)."""

    __tablename__ = "component_util"
    __table_args__ = (UniqueConstraint("run_id", "component", "metric"),)

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = _run_fk()
    component: Mapped[str] = mapped_column(String(255))
    metric: Mapped[str] = mapped_column(String(100))
    value: Mapped[float | None]
