"""Objects that cross a process boundary (sweep workers, the store's child process, gRPC conversions) come back
equal after pickling and copying, on the compiled core as on the sources.

Compiled by mypyc, a frozen dataclass cannot be restored field by field (its __setattr__ refuses), so
such classes pickle through their constructor; this test fails on a compiled install without that.
"""

from __future__ import annotations

import copy
import pickle

import pytest

from twin.metrics import RequestRecord, SeriesSample
from twin.replay import RunSpec
from twin.serving.request import TraceRequest
from twin.serving.stats import ReplicaStats
from twin.summary import RequestTally, Slo, dig

CROSSING = [
    TraceRequest(7, 0.25, 512, 64, "session-1", (11, 12), (256, 256)),
    TraceRequest(8, 1.5, 3, 1),
    RequestRecord(7, 1, "done", 0.25, 512, 64, 0.5, 2.0, 1, ""),
    RequestRecord(8, 0, "rejected", 1.5, 3, 1, None, None, 0, "too long"),
    SeriesSample(1.0, "replica0/batch", 12.0),
    Slo(2.0, 0.1),
    Slo(None, 0.05),
    ReplicaStats(steps=3, busy_s=1.5, prefill_tokens=100),
]


@pytest.mark.parametrize("obj", CROSSING, ids=lambda o: type(o).__name__)
@pytest.mark.parametrize("how", ["pickle", "deepcopy", "copy"])
def test_round_trip(obj, how: str) -> None:
    back = {"pickle": lambda o: pickle.loads(pickle.dumps(o, protocol=pickle.HIGHEST_PROTOCOL)),
            "deepcopy": copy.deepcopy, "copy": copy.copy}[how](obj)
    assert type(back) is type(obj)
    assert back == obj
    assert back is not obj or how == "copy"


def test_a_tally_survives_pickling_with_its_slo() -> None:
    tally = RequestTally(Slo(0.3, None))
    tally.add(RequestRecord(1, 0, "done", 0.0, 10, 5, 0.2, 1.0, 0, ""))
    tally.add(RequestRecord(2, 0, "done", 0.0, 10, 5, 0.5, 1.0, 0, ""))
    back = pickle.loads(pickle.dumps(tally))
    assert back.summary() == tally.summary()
    assert back.summary()["slo"]["attained"] == 0.5  # one of two met a 0.3 s TTFT


def test_a_run_spec_round_trips_through_its_dict_and_pickle() -> None:
    spec = RunSpec(server="lpu-8x-4nm", model="llama2-7b", servers=2, tp=4, slo=Slo(1.0, 0.05))
    assert RunSpec.from_dict(pickle.loads(pickle.dumps(spec.to_dict()))) == spec
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_dig_returns_leaves_of_any_type() -> None:
    summary = {"a": {"b": 1.5, "c": "x", "d": [1], "e": None}}
    assert dig(summary, "a", "b") == 1.5
    assert dig(summary, "a", "c") == "x"
    assert dig(summary, "a", "d") == [1]
    assert dig(summary, "a", "e", "f") is None
    assert dig(None, "a") is None
    assert dig(summary, "a") == summary["a"]
