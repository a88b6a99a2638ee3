"""The sweep's warm workers (services.sweep_worker.run_points): points reuse a worker; a point that kills
its worker fails alone, with the reason, and a fresh worker takes the next points."""

from __future__ import annotations

import os

import pytest

from services import sweep_worker


def fake_point(spec_dict: dict, requests, find_rate, target, keep_records=True) -> dict:
    """Stands in for a replay: answers with the worker's pid, or dies or raises as the spec says."""
    if spec_dict.get("die"):
        os._exit(7)
    if spec_dict.get("raise"):
        raise ValueError("no such thing")
    return {"status": "complete", "error": "", "summary": {"pid": os.getpid()}, "records": [], "series": [],
            "components": None, "spec": spec_dict}


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(sweep_worker, "run_point", fake_point)  # workers are forked: they see it too


def run(tasks: list[dict], jobs: int) -> tuple[dict[int, dict], dict[int, int]]:
    results: dict[int, dict] = {}
    started: dict[int, int] = {}
    sweep_worker.run_points([(t, [], False, 0.9) for t in tasks], jobs, results.__setitem__, lambda: False,
                            started.__setitem__)
    return results, started


def test_points_reuse_the_workers(fake):
    results, started = run([{"i": i} for i in range(6)], jobs=2)
    assert sorted(results) == list(range(6))
    assert all(r["status"] == "complete" for r in results.values())
    assert len(set(started.values())) <= 2  # six points, two warm workers
    assert {r["summary"]["pid"] for r in results.values()} == set(started.values())
    assert os.getpid() not in started.values()


def test_a_point_that_kills_its_worker_fails_alone(fake):
    results, started = run([{"i": 0}, {"die": True}, {"i": 2}, {"i": 3}], jobs=1)
    assert results[1]["status"] == "failed"
    assert results[1]["error"] == "the worker process exited with code 7 before sending its result"
    assert [results[i]["status"] for i in (0, 2, 3)] == ["complete"] * 3
    assert started[0] == started[1] != started[2] == started[3]  # a fresh worker after the death


def test_a_point_that_raises_fails_and_its_worker_goes_on(fake):
    results, started = run([{"raise": True}, {"i": 1}], jobs=1)
    assert results[0]["status"] == "failed" and results[0]["error"] == "ValueError: no such thing"
    assert results[1]["status"] == "complete"
    assert started[0] == started[1]
