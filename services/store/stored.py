"""What a run stored, summarised: for a run that ended without its driver's summary.

A run whose process was killed, whose lease expired, or that was stopped by a database outage
has no summary from its simulation. Its request records are in the store, so the request
figures (counts, latency percentiles, throughput, SLO attainment) are computed here from
exactly those records, page by page, with the tally the simulation itself uses.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.store.models import RequestModel, RunModel
from twin.errors import TwinError
from twin.metrics import RequestRecord
from twin.summary import RequestTally, Slo

PAGE = 5000  # records read at once: a run of millions is tallied in bounded memory
_COLUMNS = [RequestModel.id, *(getattr(RequestModel, name) for name in RequestRecord._fields)]


def stored_summary(session: Session, run_id: str, status: str) -> dict | None:
    """The summary of the request records stored for `run_id` (None for a sweep, which stores
    none itself), marked `"source": "stored records"` so nobody takes it for a simulation's."""
    kind, spec = session.execute(select(RunModel.kind, RunModel.spec).where(RunModel.id == run_id)).one()
    if kind != "replay":
        return None
    tally = RequestTally(_slo(spec))
    last = None
    while True:
        query = select(*_COLUMNS).where(RequestModel.run_id == run_id).order_by(RequestModel.id).limit(PAGE)
        if last is not None:
            query = query.where(RequestModel.id > last)
        rows = session.execute(query).all()
        for row in rows:
            tally.add(RequestRecord(*row[1:]))
        if len(rows) < PAGE:
            break
        last = rows[-1][0]
    return {"status": status, "source": "stored records", **tally.summary()}


def _slo(spec: dict | None) -> Slo:
    """The run's SLO from its stored spec; none if the spec has no valid one (an old or odd row)."""
    slo = (spec or {}).get("slo") or {}
    try:
        return Slo(ttft_s=slo.get("ttft_s"), tpot_s=slo.get("tpot_s"))
    except (TwinError, TypeError, AttributeError):
        return Slo()
