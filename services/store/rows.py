"""What the run store hands back: plain, detached dataclasses and the run lifecycle enums."""

from __future__ import annotations

import enum
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from twin.errors import InvalidSpec

LEASE_ENV = "TWIN_RUN_LEASE_S"
DEFAULT_LEASE_S = 300.0  # a run whose batches stop for this long is taken to be dead


def lease_seconds() -> float:
    """$TWIN_RUN_LEASE_S, else DEFAULT_LEASE_S."""
    text = os.environ.get(LEASE_ENV)
    try:
        value = float(text) if text else DEFAULT_LEASE_S
    except ValueError:
        raise InvalidSpec(LEASE_ENV, f"must be a number of seconds, got {text[:40]!r}") from None
    if not value > 0:
        raise InvalidSpec(LEASE_ENV, f"must be > 0 seconds, got {value}")
    return value


def process_owner(role: str) -> str:
    """Who drives a run: role, host and process id, e.g. 'controller on node-1, pid 42'. Here, not
    in repo, so that a process without SQLAlchemy (the CLI beside its store writer) can name itself."""
    return f"{role} on {socket.gethostname()}, pid {os.getpid()}"


class RunStatus(enum.StrEnum):
    """A run starts RUNNING and ends in exactly one of the other states."""

    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"


class RunKind(enum.StrEnum):
    REPLAY = "replay"
    SWEEP = "sweep"
    SEARCH = "search"
    CALIBRATE = "calibrate"  # twin calibrate run by a controller: the fit's record in the summary
    VALIDATE = "validate"  # twin validate run by a controller: the comparison in the summary


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A run as listed: no spec, policy or summary, which can be large. Times are UTC."""

    id: str
    kind: str
    trace: str
    status: str
    created_at: datetime
    finished_at: datetime | None
    error: str
    requests_recorded: int
    series_recorded: int


@dataclass(frozen=True, slots=True)
class RunRow(RunInfo):
    """A run in full. `summary` is None until the run completes (and may stay None if it fails)."""

    spec: dict[str, Any]
    policy: dict[str, Any]
    summary: dict[str, Any] | None
