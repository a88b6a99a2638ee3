"""`twin search`: a design-space search with Optuna, its study shared through the run database.

    twin search azure-conv-2023 --limit 2000 --model llama2-7b --slo-ttft 2 --slo-tpot 0.1 \\
        --space chip.mac_trees=16..64 --space max_batch=16,32,64 \\
        --objective goodput:max --objective total_mm2:min --constraint total_mm2<=400 --trials 60

A template server (ador-mactree-8x, ador-systolic-8x, ador-hybrid-8x) brings its own space: its
`template:` fields, each --space replacing or adding one. One objective samples with TPE, several
with NSGA-II (a Pareto front); constraints and points that do not fit make trials infeasible,
which are recorded too. The study lives in the run database (--db): `--workers K` runs K local
processes on it, and the same command with the same --db and --study on another machine joins it. Each invocation is stored as a search run; each trial it
runs is a child run (a replay), and the search run's summary lists every trial of the study.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import sys
import uuid
from multiprocessing.connection import wait

import click
from rich.console import Console

from services.cli_options import checked_trace, replay_options, run_spec, trace_options
from services.exits import RUN_EXIT
from twin.errors import InvalidSpec
from twin.explore.space import merged_space, parse_constraint, parse_objective
from twin.explore.sweep import _point

MAX_DIMENSIONS = 16


@click.command("search")
@click.argument("trace")
@replay_options
@trace_options
@click.option("--space", "spaces", multiple=True, metavar="FIELD=LO..HI[:log] | FIELD=V1,V2",
              help="A dimension (repeatable): any sweep axis, an integer or real range (:log for a log scale) or "
                   "a choice of values.")
@click.option("--objective", "objectives", multiple=True, metavar="NAME:max|min",
              help="What to optimise (repeatable; several give a Pareto front): goodput (needs --slo-ttft/"
                   "--slo-tpot), output_tokens_per_s, ttft_p99_s, tpot_p99_s, j_per_output_token, "
                   "output_tok_s_per_kw, total_mm2, avg_power_w, peak_power_w; one chip's die_mm2 and "
                   "chip_power_w (full load).")
@click.option("--constraint", "constraints", multiple=True, metavar="FIGURE<=X | FIGURE>=X",
              help="A bound a feasible design keeps (repeatable), e.g. total_mm2<=400, chip_power_w<=120, "
                   "slo_attained>=0.9; the budget a design uses most of is reported as what limits it.")
@click.option("--trials", type=click.IntRange(min=1), required=True, help="Trials the study runs in all.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Local worker processes.")
@click.option("--study", default=None, help="The study's name in the database; the same name joins or resumes "
                                            "it [default: a new name].")
@click.option("--resume", is_flag=True, help="Continue an existing --study (its space and goals if not given).")
@click.option("--target", default=0.9, show_default=True, help="SLO attainment goodput must keep.")
@click.option("--sampler-seed", type=int, default=None, help="Seed of the sampler (one worker: a repeatable search).")
@click.option("--json", "as_json", is_flag=True, help="Print the search's trials as JSON.")
@click.pass_obj
def search(obj, trace: str, spaces, objectives, constraints, trials: int, workers: int, study: str | None,
           resume: bool, target: float, sampler_seed: int | None, as_json: bool, **opts) -> None:
    """Search the design space of TRACE's twin for the best designs (Optuna, shared through --db)."""
    from services.store import open_store
    from services.store.db import resolve_url
    if resume and not study:
        raise InvalidSpec("--resume", "needs the --study to continue")
    base = run_spec(opts, obj.catalog)
    template = {} if resume and not spaces else _template(base)
    definition = _definition(spaces, objectives, constraints, template) \
        if (spaces or objectives or not resume) else None
    url = resolve_url(obj.db)
    with open_store(url) as store:  # the twin's schema first: the study's tables join it
        name, definition = _open_study(url, study or f"search-{uuid.uuid4().hex[:8]}", definition, resume)
        job = _job(name, trials, definition, base, trace, opts, target, sampler_seed)
        code, summary, status = _search(obj, store, url, dataclasses.replace(job, quiet=as_json), workers, as_json)
    from services.search_view import print_search
    print_search(obj.console, summary, as_json)
    sys.exit(code if code is not None else RUN_EXIT[status])


def _template(base) -> dict[str, str]:
    """The base server's template space (an ADOR template: ador-mactree-8x...), {} for a plain server."""
    from twin.catalog import template_space
    entry = base.catalog().entry("servers", base.server)
    return template_space(entry.data, entry.source)


def _definition(spaces, objectives, constraints, template: dict[str, str]) -> dict:
    if not spaces and not template:
        raise InvalidSpec("--space", "a search needs at least one --space FIELD=LO..HI or FIELD=V1,V2 (or a "
                                     "template server: ador-mactree-8x, ador-systolic-8x, ador-hybrid-8x)")
    if not objectives:
        raise InvalidSpec("--objective", "a search needs at least one --objective NAME:max|min")
    dims = merged_space(template, list(spaces))
    if len(dims) > MAX_DIMENSIONS:
        raise InvalidSpec("--space", f"at most {MAX_DIMENSIONS} fields")
    goals = [parse_objective(o) for o in objectives]
    if len({g.name for g in goals}) != len(goals):
        raise InvalidSpec("--objective", "give each objective once")
    return {"space": [d.to_dict() for d in dims], "objectives": [[g.name, g.direction] for g in goals],
            "constraints": [str(parse_constraint(c)) for c in constraints]}


def _open_study(url: str, name: str, definition: dict | None, resume: bool) -> tuple[str, dict]:
    """Create the study, or join an existing one whose definition is the same (--resume: must exist)."""
    import optuna
    from services.search_worker import study_storage
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = study_storage(url)
    exists = name in {s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    if resume and not exists:
        raise InvalidSpec("--study", f"no study {name[:80]!r} to resume in this database")
    if not exists:
        directions = ["maximize" if d == "max" else "minimize" for _, d in definition["objectives"]]
        try:
            study = optuna.create_study(study_name=name, storage=storage, directions=directions)
            study.set_user_attr("definition", definition)
            return name, definition
        except optuna.exceptions.DuplicatedStudyError:
            pass  # another worker created it just now: join it
    stored = optuna.load_study(study_name=name, storage=storage).user_attrs.get("definition")
    if stored is None:
        raise InvalidSpec("--study", f"study {name[:80]!r} is not a twin search (or is still being created)")
    if definition is not None and definition != stored:
        raise InvalidSpec("--study", f"study {name[:80]!r} searches another space or other goals; give the same "
                                     "--space, --objective and --constraint options, or another --study")
    return name, stored


def _job(name, trials, definition, base, trace_name, opts, target, seed):
    from services.search_worker import SearchJob
    from twin.explore.space import Constraint, Dimension, Objective
    space = tuple(Dimension(**{**d, "choices": tuple(d["choices"])}) for d in definition["space"])
    goals = tuple(Objective(n, d) for n, d in definition["objectives"])
    limits = tuple(parse_constraint(c) for c in definition["constraints"])
    find_rate = any(g.name == "goodput" for g in goals) or any(c.figure == "goodput_rps" for c in limits)
    if find_rate and base.slo.ttft_s is None and base.slo.tpot_s is None:
        raise InvalidSpec("--objective", "goodput needs an SLO to meet: give --slo-ttft and/or --slo-tpot")
    if not 0 < target <= 1:
        raise InvalidSpec("--target", "must be in (0, 1]")
    _check_fields(base, space)
    trace = checked_trace(base, trace_name, opts)
    return SearchJob(name, trials, space, goals, tuple(Constraint(c.figure, c.op, c.bound) for c in limits), base,
                     list(trace.requests), trace, find_rate, target, seed)


def _check_fields(base, space) -> None:
    """A hardware field the base design does not have is refused before any trial (unless the server varies)."""
    if any(d.field == "server" for d in space):
        return
    for d in space:
        if d.field.startswith(("chip.", "link.", "server.", "model.")):
            point = _point(base, {d.field: d.choices[0] if d.kind == "choice" else d.low}, lambda spec: None)
            if not point.applies:
                raise InvalidSpec("--space", f"{d.field}: unknown field for {base.server} / {base.model} "
                                             f"({point.error})")


def _search(obj, store, url, job, workers: int, quiet: bool):
    import optuna
    from services.runner import stored_policy
    from services.search_view import search_summary
    from services.search_worker import study_storage
    parent = store.create_run(kind="search", trace=job.trace.name, policy=stored_policy(job.base),
                              spec={"study": job.study, "trials": job.trials, "workers": workers,
                                    "base": job.base.to_dict(), "space": [d.to_dict() for d in job.space],
                                    "objectives": [[o.name, o.direction] for o in job.objectives],
                                    "constraints": [str(c) for c in job.constraints], "target": job.target})
    log = None if quiet else Console(stderr=True)
    if log:
        log.print(f"[dim]search {parent}: study {job.study}, {job.trials} trials, {workers} worker(s)[/]")
    code, lost = run_workers(job, url, workers, log)
    study = optuna.load_study(study_name=job.study, storage=study_storage(url))
    summary = search_summary(job.study, study.get_trials(deepcopy=False), job.objectives, job.constraints)
    summary.update(search_run=parent, workers=workers, workers_lost=lost)
    status = "interrupted" if code is not None else "complete"
    store.finish(parent, status, summary, None, "stopped by a signal: finished trials kept" if code else "")
    if log:
        log.print(f"search [bold]{parent}[/] ({status}): study {job.study}, {summary['complete']} trials stored in "
                  f"{obj.db or 'sqlite:///twin.db'}")
    return code, summary, status


STOP_GRACE_S = 30.0  # the longest a worker may take to end once told to


def run_workers(job, url: str, workers: int, log) -> tuple[int | None, int]:
    """K worker processes until the study is full or a signal stops them (their trials in flight are failed);
    a worker that dies loses its trial in flight and is replaced. (exit code of a signal or None, workers lost)"""
    from services.search_worker import work
    from services.signals import StopSignals
    ctx = multiprocessing.get_context("fork")
    running, lost = {}, 0

    def start() -> None:
        process = ctx.Process(target=work, args=(job, url), daemon=True)
        process.start()
        running[process.sentinel] = process

    with StopSignals() as signals:
        try:
            for _ in range(workers):
                start()
            while running and signals.signum is None:
                for sentinel in wait(list(running), timeout=0.25):
                    process = running.pop(sentinel)
                    process.join()
                    if process.exitcode != 0:
                        lost += 1
                        _fail_trials_of(job, url, {process.pid}, log, process.exitcode)
                        if lost <= job.trials and _open_trials(job, url):
                            start()
        finally:
            for process in running.values():
                process.terminate()
            for process in running.values():
                process.join(STOP_GRACE_S)
                if process.exitcode is None:  # a worker that does not end on SIGTERM is killed
                    process.kill()
                    process.join()
            _fail_trials_of(job, url, {p.pid for p in running.values()}, log, None)
        return signals.exit_code, lost


def _open_trials(job, url: str) -> bool:
    import optuna
    from services.search_worker import counted, study_storage
    return counted(optuna.load_study(study_name=job.study, storage=study_storage(url))) < job.trials


def _fail_trials_of(job, url: str, pids: set[int], log, exitcode: int | None) -> None:
    """Mark the trials these (ended) local workers had in flight as failed: they will not be told."""
    import socket

    import optuna
    from optuna.trial import TrialState

    from services.search_worker import study_storage
    if not pids:
        return
    mine = {f"{socket.gethostname()}:{pid}" for pid in pids}
    study = optuna.load_study(study_name=job.study, storage=study_storage(url))
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get("worker") in mine:
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            if log and exitcode is not None:
                log.print(f"[yellow]trial {trial.number} lost: its worker ended with code {exitcode}[/]")
