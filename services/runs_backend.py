"""Where `twin runs ...` reads and changes runs: the local store, or the services over gRPC.

Both give the same plain data (a run is a dict keyed like `twin runs show --json`; records
are `twin.metrics.RequestRecord`), so every command works the same way locally and with
--controller. Run ids may be given in full or as a unique prefix; the store resolves them.
"""

from __future__ import annotations

import json
import time
from typing import Iterator

from twin.errors import NotRunning
from twin.metrics import RequestRecord, SeriesSample

PAGE = 5000  # records per page when streaming


def run_dict(row) -> dict:
    """A stored run (RunInfo or RunRow) as the one JSON shape every command prints."""
    out = {"run_id": row.id, "kind": row.kind, "trace": row.trace, "status": row.status,
           "created_at": row.created_at.isoformat(), "finished_at": row.finished_at and row.finished_at.isoformat(),
           "error": row.error, "requests_recorded": row.requests_recorded, "series_recorded": row.series_recorded}
    if hasattr(row, "summary"):
        out.update(spec=row.spec, summary=row.summary)
    return out


class LocalRuns:
    """Runs in the database at `url` (the CLI's own store)."""

    def __init__(self, url: str | None):
        from services.store import open_store
        self.store = open_store(url)
        self.where = "the local database"

    def close(self) -> None:
        self.store.close()

    def list(self, limit: int, status: str | None) -> list[dict]:
        return [run_dict(r) for r in self.store.list_runs(limit=limit, status=status)]

    def get(self, run_id: str) -> dict:
        return run_dict(self.store.get_run(run_id))

    def components(self, run_id: str) -> dict[str, dict[str, float]]:
        return self.store.components(self.store.resolve_id(run_id))

    def records(self, run_id: str) -> Iterator[list[RequestRecord]]:
        run_id, offset = self.store.resolve_id(run_id), 0
        while page := self.store.request_records(run_id, offset=offset, limit=PAGE):
            yield page
            offset += len(page)

    def series(self, run_id: str) -> list[SeriesSample]:
        return self.store.series(self.store.resolve_id(run_id))

    def compare(self, run_ids: list[str]) -> list[tuple[str, list[float]]]:
        from services.metrics.compare import compare
        return compare([self.store.get_run(r).summary for r in run_ids])

    def delete(self, run_id: str) -> str:
        return self.store.delete_run(run_id)

    def cancel(self, run_id: str) -> dict:
        """A run nobody drives any more (its lease expired) ends cancelled with a summary of what it
        stored; a live one is stopped by its own process, an ended one stays as it ended."""
        full = self.store.resolve_id(run_id)
        if self.store.end_orphan(full, "cancelled", f"cancelled by {self.store.owner} after its lease expired"):
            return self.get(full)
        run = self.get(full)
        if run["status"] == "running":
            owner, _ = self.store.driver(full)
            raise NotRunning(f"run {full} is running in {owner}: stop it there (Ctrl-C in its terminal), "
                             f"or with --controller if a controller drives it")
        raise NotRunning(f"run {full} is {run['status']}, it has ended: only a running run can be cancelled; "
                         f"a controller's run with --controller, a local replay with Ctrl-C in its terminal")

    def watch(self, run_id: str, poll_s: float = 1.0) -> Iterator[tuple[str, int, int, float]]:
        """(status, finished, total, simulated s) as a run written by another process goes on."""
        while True:
            run = self.store.get_run(run_id)
            summary = run.summary or {}
            total = summary.get("requests", {}).get("submitted", 0)
            yield run.status, run.requests_recorded, total, summary.get("twin", {}).get("simulated_s", 0.0)
            if run.status != "running":
                return
            time.sleep(poll_s)


def run_msg_dict(msg) -> dict:
    out = {"run_id": msg.run_id, "kind": msg.kind, "trace": msg.trace, "status": msg.status,
           "created_at": msg.created_at.ToDatetime().isoformat() + "+00:00",
           "finished_at": msg.finished_at.ToDatetime().isoformat() + "+00:00" if msg.HasField("finished_at")
           else None, "error": msg.error, "requests_recorded": msg.requests_recorded,
           "series_recorded": msg.series_recorded}
    if msg.spec_json:
        out.update(spec=json.loads(msg.spec_json), summary=json.loads(msg.summary_json or "null"))
    return out
