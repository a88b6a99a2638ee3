"""Records go in batch by batch and come back unchanged, even when the run never ends."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from services.store import open_store
from twin.metrics import RequestRecord, SeriesSample

REPO = Path(__file__).resolve().parents[3]
RECORDS = [
    RequestRecord(0, 0, "done", 0.1, 512, 128, 0.1 + 0.2, 1.0 / 3, 0),
    RequestRecord(2**40, 3, "rejected", 1e-300, 1, 0, None, None, 0, "exceeds kv capacity"),
    RequestRecord(7, 1, "preempted", 1e300, 4096, 2, 2.5, None, 3, "préempté ✓"),
    RequestRecord(8, 1, "done", 0.0, 0, 1, 0.0, 0.0, 0),
]


def new_run(store):
    return store.create_run(kind="replay", trace="t", spec={}, policy={})


def request(i: int) -> RequestRecord:
    return RequestRecord(i, i % 4, "done", i * 0.001, 100 + i, 10, i * 0.001 + 0.05, None, i % 3)


def test_request_records_round_trip_exactly(store):
    run_id = new_run(store)
    store.append(run_id, RECORDS, [])
    back = store.request_records(run_id)
    assert back == RECORDS
    assert [type(r.first_token_s) for r in back] == [float, type(None), float, float]


def test_batches_keep_recording_order_and_page(store):
    run_id = new_run(store)
    batches = [[request(i) for i in range(start, start + 30)] for start in (0, 30, 60)]
    for batch in batches:
        store.append(run_id, batch, [])
    assert store.get_run(run_id).requests_recorded == 90
    page = store.request_records(run_id, offset=25, limit=10)
    assert page == [request(i) for i in range(25, 35)]
    assert store.request_records(run_id, offset=85) == [request(i) for i in range(85, 90)]
    assert store.request_records(run_id, offset=90) == []


def test_series_round_trip_in_order_and_by_name(store):
    run_id = new_run(store)
    samples = [SeriesSample(t * 0.5, f"replica{t % 2}/batch", float(t)) for t in range(6)]
    odd = [SeriesSample(9.0, "replica0/kv_occupancy", v) for v in (math.inf, -math.inf)]
    store.append(run_id, [], samples + odd)
    store.append(run_id, [], [SeriesSample(10.0, "replica1/batch", 0.1)])
    assert store.series(run_id) == samples + odd + [SeriesSample(10.0, "replica1/batch", 0.1)]
    assert [s.t_s for s in store.series(run_id, "replica1/batch")] == [0.5, 1.5, 2.5, 10.0]
    assert store.series(run_id, "nothing") == []
    assert store.get_run(run_id).series_recorded == 9


def test_nan_values_come_back_as_nan(store):
    run_id = new_run(store)
    store.append(run_id, [], [SeriesSample(1.0, "replica0/util", math.nan)])
    store.finish(run_id, "complete", {}, {"replica0/chip0/core": {"util": math.nan}})
    assert math.isnan(store.series(run_id)[0].value)
    assert math.isnan(store.components(run_id)["replica0/chip0/core"]["util"])


def test_components_round_trip_nested(store):
    run_id = new_run(store)
    components = {
        f"replica{r}/chip{c}/{part}": {"util": (r + c) / 10, "busy_s": 12.5 * c}
        for r in range(2) for c in range(4) for part in ("hbm", "core", "link")
    }
    store.finish(run_id, "complete", {"ok": True}, components)
    assert store.components(run_id) == components
    assert store.components(new_run(store)) == {}


def test_fifty_thousand_rows_in_one_append(store):
    run_id = new_run(store)
    n = 50_000
    requests = [request(i) for i in range(n)]
    series = [SeriesSample(i * 0.01, "replica0/batch", float(i % 64)) for i in range(n)]
    store.append(run_id, requests, series)
    run = store.get_run(run_id)
    assert (run.requests_recorded, run.series_recorded) == (n, n)
    assert store.request_records(run_id, offset=n - 10, limit=100) == requests[-10:]
    assert len(store.series(run_id)) == n


def test_a_failed_append_stores_nothing_of_its_batch(store):
    run_id = new_run(store)
    store.append(run_id, [request(0)], [])
    bad = SeriesSample(1.0, "replica0/batch", "not a number")  # fails after the requests insert
    with pytest.raises(ValueError):
        store.append(run_id, [request(1), request(2)], [bad])
    assert store.request_records(run_id) == [request(0)]
    assert store.series(run_id) == []
    assert store.get_run(run_id).requests_recorded == 1


def test_numpy_scalars_are_stored_as_plain_numbers(store):
    np = pytest.importorskip("numpy")
    run_id = new_run(store)
    record = RequestRecord(np.int64(5), np.int32(1), "done", np.float64(0.25), np.int64(10),
                           np.int64(2), np.float32(0.5), None, np.int64(0))
    store.append(run_id, [record], [SeriesSample(np.float64(1.0), "q", np.float32(0.5))])
    expected = RequestRecord(5, 1, "done", 0.25, 10, 2, 0.5, None, 0)
    assert store.request_records(run_id) == [expected]
    assert store.series(run_id) == [SeriesSample(1.0, "q", 0.5)]


def test_threads_append_to_their_own_runs(store):
    def worker(run_id: str) -> None:
        for start in range(0, 200, 20):
            store.append(run_id, [request(i) for i in range(start, start + 20)], [])

    run_ids = [new_run(store) for _ in range(4)]
    threads = [threading.Thread(target=worker, args=(run_id,)) for run_id in run_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for run_id in run_ids:
        assert store.get_run(run_id).requests_recorded == 200
        assert store.request_records(run_id) == [request(i) for i in range(200)]


CRASHING_WRITER = """
import os, sys
from services.store import open_store
from twin.metrics import RequestRecord, SeriesSample
store = open_store(sys.argv[1])
run_id = store.create_run(kind="replay", trace="t", spec={}, policy={})
for batch in range(3):
    store.append(run_id, [RequestRecord(batch, 0, "done", 0.0, 1, 1, 0.1, 0.2, 0)],
                 [SeriesSample(float(batch), "q", 1.0)])
print(run_id, flush=True)
os._exit(9)  # dies without finish() and without closing anything
"""


def test_records_survive_a_writer_that_dies_before_finish(db_url):
    child = subprocess.run(
        [sys.executable, "-P", "-c", CRASHING_WRITER, db_url],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "TWIN_RUN_LEASE_S": "0.5"},
    )
    assert child.returncode == 9, child.stderr
    run_id = child.stdout.strip()
    with open_store(db_url) as store:
        assert store.get_run(run_id).status == "running"
        time.sleep(0.6)  # the dead writer's lease runs out
        assert store.take_over_expired() == [run_id]
        run = store.get_run(run_id)
        assert (run.status, run.requests_recorded, run.series_recorded) == ("interrupted", 3, 3)
        assert [r.request_id for r in store.request_records(run_id)] == [0, 1, 2]
        assert len(store.series(run_id)) == 3
