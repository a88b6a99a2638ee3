"""`twin --controller ... runs ...` reads the controller's database through the services, with the
same ids, prefixes, JSON and error shape as locally; Ctrl-C on a watched replay cancels it."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from services.cli import cli
from services.export import record_of
from services.watch import follow_cancelling


def remote(stack, *args, code=0):
    result = CliRunner().invoke(cli, ["--db", "sqlite:///nowhere-local.db", "--controller", stack.controller_addr,
                                      "--metrics", stack.metrics_addr, *args])
    assert result.exit_code == code, result.output
    return result.output


def test_runs_list_show_export_compare_delete_go_through_the_services(stack, replay_req, tmp_path):
    ids = [stack.controller.StartReplay(replay_req(limit=20), timeout=30).run_id for _ in range(2)]
    for run_id in ids:
        assert stack.wait(run_id).status == "complete"
    listed = json.loads(remote(stack, "runs", "list", "--json"))
    assert sorted(r["run_id"] for r in listed) == sorted(ids)  # the controller's runs, not a local file
    shown = json.loads(remote(stack, "runs", "show", ids[0][:8], "--json"))
    assert shown["run_id"] == ids[0] and shown["summary"]["load"]["verdict"] in ("headroom", "near capacity",
                                                                                   "OVERLOADED")
    remote(stack, "runs", "export", ids[0][:8], "-o", str(tmp_path / "r.jsonl"))
    rows = [record_of(json.loads(line)) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert rows == stack.store.request_records(ids[0])
    cmp = json.loads(remote(stack, "runs", "compare", ids[0][:6], ids[1][:6], "--json"))
    assert cmp["run_ids"] == ids
    assert f"deleted run {ids[1]}" in remote(stack, "runs", "delete", ids[1][:9])
    out = remote(stack, "runs", "show", ids[1], code=1)
    assert out.startswith("Error: NOT_FOUND from controller") and f"unknown run '{ids[1]}'" in out


def test_unreachable_services_exit_3_with_one_line(stack):
    result = CliRunner().invoke(cli, ["--controller", "127.0.0.1:1", "runs", "list"])
    assert result.exit_code == 3 and result.output.startswith("Error: UNAVAILABLE from controller 127.0.0.1:1")
    assert len(result.output.strip().splitlines()) == 1


class _CtrlC:
    """A runs backend whose watch is interrupted once, as a Ctrl-C would do, then delegates."""

    def __init__(self, runs):
        self.runs, self.pressed = runs, False

    def watch(self, run_id):
        for item in self.runs.watch(run_id):
            if not self.pressed:
                self.pressed = True
                raise KeyboardInterrupt
            yield item

    def cancel(self, run_id):
        return self.runs.cancel(run_id)


def _press(times: int) -> None:
    if times:
        raise KeyboardInterrupt  # the second Ctrl-C, within the grace


@pytest.mark.parametrize("presses, final", [(1, "cancelled"), (2, "running")])
def test_ctrl_c_on_a_watched_replay_cancels_it_and_a_second_detaches(stack, replay_req, presses, final):
    from services.runs_remote import RemoteRuns
    run = stack.controller.StartReplay(replay_req(limit=3000, fidelity="layer"), timeout=30)
    runs = RemoteRuns(stack.controller_addr, stack.metrics_addr)
    try:
        assert follow_cancelling(_CtrlC(runs), run.run_id, quiet=True, grace=lambda: _press(presses - 1)) == 130
        assert runs.get(run.run_id)["status"] == final
    finally:
        runs.close()
    if final == "running":  # detached: the run went on; stop it through the CLI
        assert f"run {run.run_id}: cancelled" in remote(stack, "runs", "cancel", run.run_id[:10])


def test_runs_watch_follows_to_the_end_and_prints_the_summary(stack, replay_req):
    run = stack.controller.StartReplay(replay_req(limit=60), timeout=30)
    out = json.loads(remote(stack, "runs", "watch", run.run_id[:8], "--json"))
    assert out["run_id"] == run.run_id and out["status"] == "complete"
    rq = out["summary"]["requests"]
    assert rq["done"] + rq["too_long_rejected"] == 60  # OPT's 2K context: longer requests rejected, counted
