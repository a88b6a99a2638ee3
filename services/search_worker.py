"""A search worker: one process asking the shared Optuna study for trials, running them, storing them.

The study lives in the run database (Optuna's RDB storage on the store's own URL), so workers in
this machine's processes and on other machines with the same --db and --study share it: Optuna
hands each trial to one worker, and a worker stops once the study holds the trials asked for.
Each trial is run as a sweep point is (twin.explore.sweep builds it, services.sweep_worker runs
it) and stored as a child run; the figures, the constraint violations and the run's id go into
the trial's attributes. A point that does not fit, or whose run fails, is an infeasible trial
scored at its objectives' worst values: recorded, never dropped.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import sys
import warnings
from dataclasses import dataclass

from sqlalchemy.engine import make_url

from twin.explore.space import FIGURES, Constraint, Dimension, Objective
from twin.explore.sweep import _point
from twin.replay import RunSpec

HEARTBEAT_S, GRACE_S = 5, 30  # a trial whose worker went silent this long (another machine) is failed


@dataclass(frozen=True)
class SearchJob:
    """What every worker of one search needs: the space, the goals, the base spec and the trace."""
    study: str
    trials: int  # the study's total: a worker stops once it holds this many (running or finished)
    space: tuple[Dimension, ...]
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]
    base: RunSpec
    requests: list
    trace: object  # the LoadedTrace, for the child runs' trace info
    find_rate: bool
    target: float
    seed: int | None = None
    quiet: bool = False  # no progress line per trial (--json)


def study_storage(url: str):
    """Optuna's RDB storage on the run database. The twin's schema is made (or checked) first: its
    migrations own the alembic_version table, which Optuna would otherwise claim for its own."""
    import optuna
    from services.store import open_store
    open_store(url).close()
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # as the store's engine
    sqlite = parsed.get_backend_name() == "sqlite"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # The twin's own migrations own the database's alembic_version table; Optuna only adds its tables.
        return optuna.storages.RDBStorage(parsed.render_as_string(hide_password=False), skip_compatibility_check=True,
                                          engine_kwargs={"connect_args": {"timeout": 60}} if sqlite
                                          else {"pool_pre_ping": True},
                                          heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S)


def sampler(job: SearchJob):
    import optuna
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # both read the constraints each trial sets (Trial.set_constraint): infeasible trials rank last
        if len(job.objectives) > 1:
            return optuna.samplers.NSGAIISampler(seed=job.seed)
        return optuna.samplers.TPESampler(seed=job.seed)


def counted(study) -> int:
    """Trials that count towards --trials: finished or in flight, not those lost with a worker."""
    from optuna.trial import TrialState
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                        TrialState.RUNNING, TrialState.WAITING)))


def work(job: SearchJob, url: str) -> None:
    """A worker process's life: run trials of the study until it holds job.trials."""
    import optuna
    from services.store import open_store
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group: the parent decides
    signal.signal(signal.SIGTERM, _Ending.handle)
    _Ending.hold()  # until the first trial is named as this worker's (evaluate)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=job.study, storage=study_storage(url), sampler=sampler(job))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # trials of workers that died anywhere: silent past GRACE_S
    if counted(study) >= job.trials:
        return

    def stop_when_full(study, trial) -> None:
        _Ending.allow()  # the trial is stored and told
        if not job.quiet:
            print(f"trial {trial.number} done: {trial.params} -> {trial.values}"
                  f"{'' if all(v <= 0 for v in trial.user_attrs.get('constraints', [1])) else ' (infeasible)'}",
                  file=sys.stderr, flush=True)
        if counted(study) >= job.trials:
            study.stop()
        _Ending.hold()  # the next trial is asked for before evaluate can name it as this worker's

    with open_store(url) as store:
        study.optimize(lambda trial: evaluate(trial, job, store), callbacks=[stop_when_full],
                       gc_after_trial=False)


class _Ending:
    """SIGTERM (the parent stopping its workers) ends a worker at once, except in two windows, which it waits
    for: between storing a trial's run and telling the study (a stored run always belongs to a told trial),
    and between asking the study for a trial and naming the trial as this worker's (the parent fails the
    trials its stopped workers had in flight by that name; an unnamed one would stay running for ever). (A
    handler, not a signal mask: Optuna's heartbeat thread would take a masked signal and end the process anyway.)

    At once means os._exit, as a SIGKILL would, not an exception: an exception raised wherever the signal
    lands can leave Optuna's (non-daemon) heartbeat thread started and never told to stop, say when it lands
    inside the thread's start(), and the process then waits for that thread for ever as it exits. Whatever
    the worker had not committed is rolled back by the database, as for a killed worker."""
    deferred = False
    pending = False

    @classmethod
    def handle(cls, _signum, _frame) -> None:
        if cls.deferred:
            cls.pending = True
        else:
            os._exit(143)

    @classmethod
    def hold(cls) -> None:
        cls.deferred = True

    @classmethod
    def allow(cls) -> None:
        cls.deferred = False
        if cls.pending:
            os._exit(143)


def suggest(trial, dim: Dimension):
    if dim.kind == "int":
        return trial.suggest_int(dim.field, int(dim.low), int(dim.high), log=dim.log)
    if dim.kind == "float":
        return trial.suggest_float(dim.field, dim.low, dim.high, log=dim.log)
    return trial.suggest_categorical(dim.field, list(dim.choices))


def evaluate(trial, job: SearchJob, store) -> list[float]:
    """Run the trial's point, store it as a child run, record its figures; its objective values."""
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    _Ending.allow()  # named: a stopped worker's trial is failed by the parent from here on
    values = {dim.field: suggest(trial, dim) for dim in job.space}
    out, fits, design = _run(job, values)
    _Ending.hold()  # stored and told whole: a SIGTERM now takes effect in the callback
    from services.sweep_cmd import _store_point
    from twin.explore.sweep import Point
    from twin.summary import dig
    row = _store_point(store, job.trace, Point(values, job.base), out)
    row.update(design, peak_power_w=dig(out["summary"] or {}, "energy", "peak_power_w"))
    figures = {k: row.get(k) for k in FIGURES}
    ok = fits and out["status"] == "complete"
    trial.set_user_attr("bound_by", dig(out["summary"] or {}, "hardware", "bound_by"))
    violations = {"runs": 0.0 if ok else 1.0, **{str(c): c.violation(figures) for c in job.constraints}}
    for key, value in violations.items():
        trial.set_constraint(key, value)
    trial.set_user_attr("constraints", list(violations.values()))
    trial.set_user_attr("figures", {k: v for k, v in figures.items() if v is not None})
    trial.set_user_attr("run_id", row["run_id"])
    trial.set_user_attr("status", out["status"])
    if out["error"]:
        trial.set_user_attr("error", out["error"][:300])
    return [_score(o, figures, ok) for o in job.objectives]


def _score(objective: Objective, figures: dict, ok: bool) -> float:
    value = figures.get(objective.figure)
    if not ok or value is None or not math.isfinite(value):
        return objective.worst()
    return float(value)


def _run(job: SearchJob, values: dict) -> tuple[dict, bool, dict]:
    """The point's run (a replay, or a goodput bisection), whether it fit, and its design's own figures (one
    chip's die and power: known even when the point does not fit); never raises."""
    from services.common.messages import one_line
    from services.limits import RunLimits
    from services.sweep_worker import failed_point, run_point
    from twin.errors import TwinError
    try:
        point = _point(job.base, values, RunLimits.from_env().check_spec)
    except TwinError as exc:
        return failed_point(job.base.to_dict(), one_line(exc)), False, {}
    design = _design(point.spec)
    if point.error:
        return failed_point(point.spec.to_dict(), point.error), False, design
    try:
        return run_point(point.spec.to_dict(), job.requests, job.find_rate, job.target), True, design
    except Exception as exc:  # the trial fails with the run's own message; the search goes on
        return failed_point(point.spec.to_dict(), f"{type(exc).__name__}: {one_line(exc)}"), True, design


def _design(spec: RunSpec) -> dict:
    from twin.errors import TwinError
    from twin.explore.design import design_figures
    try:
        return design_figures(spec.server_spec())
    except TwinError:
        return {}  # a field this server does not have: the point says why
