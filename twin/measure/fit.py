"""Fitting the twin's physical parameters to measured requests, and checking what the fit predicts.

Residuals are per request, log(predicted / measured) of TTFT and of TPOT, so a request of 20 ms
and one of 2 s weigh alike; ``scipy.optimize.least_squares`` minimises them within each
parameter's bounds with a soft-L1 loss (a few odd requests do not drag the fit). Every
evaluation replays the whole measured workload (queueing depends on every request), and the
residuals of the requests being fitted are kept; replays are cached by parameter values.

Before fitting, a parameter whose Jacobian column is flat (moving it across its bounds changes
no residual) or lies along the columns of parameters already kept (the data cannot tell them
apart) is reported and left at its default. Held-out error: fit on all folds but one, measure
on that one, before and after; by file when there are several files, k-fold by position otherwise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from twin.measure.compare import predict
from twin.measure.params import Param
from twin.measure.records import Measurement
from twin.replay import RunSpec

STEP = 0.02  # finite-difference step, in units of a parameter's log-range (about 13 % of a decade-wide value)
SCAN = 33  # points per parameter of the coarse scan that starts the fit
FLAT = 1e-3  # RMS change of the log residuals across the whole bounds below which a parameter is undetermined
SEPARABLE = 0.05  # smallest singular value of the unit Jacobian columns: below it, parameters are confounded
CLIP = 3.0  # a request the twin did not serve counts as a factor e^3 off


@dataclass
class Problem:
    spec: RunSpec
    measurements: list[Measurement]
    params: list[Param]
    start: dict[str, float]
    hook: Callable[[int], None] | None = None  # called with the replays so far before each new one
    _cache: dict = field(default_factory=dict)

    def residuals(self, values: dict[str, float], file: int) -> np.ndarray:
        """(requests, 2) log errors of TTFT and TPOT of one file at `values`; NaN where not measured."""
        key = (file, tuple(sorted(values.items())))
        if key not in self._cache:
            if self.hook is not None:
                self.hook(len(self._cache))
            spec = dataclasses.replace(self.spec, overrides={**(self.spec.overrides or {}), **values})
            rows = []
            for p in predict(spec, self.measurements[file]):
                rows.append([_log_error(p.predicted[m], p.measured[m]) for m in ("ttft", "tpot")])
            self._cache[key] = np.asarray(rows, dtype=float)
        return self._cache[key]

    def stacked(self, values: dict[str, float], selection: list[np.ndarray]) -> np.ndarray:
        parts = [self.residuals(values, f)[rows].ravel() for f, rows in enumerate(selection) if len(rows)]
        out = np.concatenate(parts) if parts else np.zeros(0)
        return out[~np.isnan(out)]


def _log_error(pred: float | None, meas: float | None) -> float:
    if meas is None or meas <= 0:
        return float("nan")
    if pred is None:
        return CLIP
    return float(np.clip(np.log(max(pred, 1e-9) / meas), -CLIP, CLIP))


def _values(problem: Problem, free: list[Param], u: np.ndarray) -> dict[str, float]:
    return {**problem.start, **{p.key: p.from_unit(x) for p, x in zip(free, u)}}


def jacobian(problem: Problem, free: list[Param], u: np.ndarray, selection) -> np.ndarray:
    """Central differences (one-sided at a bound) of the stacked residuals in unit coordinates."""
    cols = []
    for i in range(len(free)):
        lo, hi = u.copy(), u.copy()
        lo[i], hi[i] = max(u[i] - STEP, 0.0), min(u[i] + STEP, 1.0)
        diff = problem.stacked(_values(problem, free, hi), selection) - \
            problem.stacked(_values(problem, free, lo), selection)
        cols.append(diff / (hi[i] - lo[i]))
    return np.column_stack(cols) if cols else np.zeros((0, 0))


def identifiable(problem: Problem, selection) -> tuple[list[Param], dict[str, str]]:
    """The parameters the data determine, in the order given, and why each other one is left out."""
    u0 = np.array([p.to_unit(problem.start[p.key]) for p in problem.params])
    jac = jacobian(problem, problem.params, u0, selection)
    rms = np.sqrt((jac ** 2).mean(axis=0)) if jac.size else np.zeros(len(problem.params))
    kept: list[int] = []
    left: dict[str, str] = {}
    for i, p in enumerate(problem.params):
        if rms[i] < FLAT:
            left[p.key] = f"undetermined: across its bounds it changes the residuals by {rms[i]:.1e} (flat)"
            continue
        cols = jac[:, [*kept, i]] / rms[[*kept, i]]
        smallest = np.linalg.svd(cols / np.sqrt(len(cols)), compute_uv=False)[-1]
        if smallest < SEPARABLE:
            others = ", ".join(problem.params[k].key for k in kept)
            left[p.key] = f"undetermined: the data cannot tell it from {others} (singular Jacobian)"
            continue
        kept.append(i)
    return [problem.params[i] for i in kept], left


def fit(problem: Problem, selection) -> dict[str, float]:
    """The fitted values of the free parameters (defaults for the undetermined ones)."""
    from scipy.optimize import least_squares
    free, _ = identifiable(problem, selection)
    if not free:
        return dict(problem.start)
    u0 = scan(problem, free, np.array([p.to_unit(problem.start[p.key]) for p in free]), selection)
    result = least_squares(lambda u: problem.stacked(_values(problem, free, u), selection), u0,
                           jac=lambda u: jacobian(problem, free, u, selection), bounds=(0.0, 1.0),
                           loss="soft_l1", f_scale=0.1, max_nfev=60)
    return _values(problem, free, result.x)


def scan(problem: Problem, free: list[Param], u: np.ndarray, selection) -> np.ndarray:
    """One pass of coordinate scans over each parameter's bounds: the start of the local fit.

    A step-level twin's TTFT moves in jumps (an arrival just before or just after a step
    boundary waits a step more or less), so its residuals have local minima a gradient
    method alone would stop in."""
    u = u.copy()
    for i in range(len(free)):
        best = (_soft_cost(problem.stacked(_values(problem, free, u), selection)), u[i])
        for x in np.linspace(0.0, 1.0, SCAN):
            trial = u.copy()
            trial[i] = x
            best = min(best, (_soft_cost(problem.stacked(_values(problem, free, trial), selection)), x))
        u[i] = best[1]
    return u


def _soft_cost(r: np.ndarray, scale: float = 0.1) -> float:
    """least_squares's soft-L1 cost of residuals `r`."""
    z = (r / scale) ** 2
    return float((2 * scale ** 2 * (np.sqrt(1 + z) - 1)).sum())


def errors(problem: Problem, values: dict[str, float], selection) -> dict[str, float | None]:
    """Median and mean absolute relative error of TTFT and TPOT over the selected requests."""
    out: dict[str, float | None] = {}
    for col, name in enumerate(("ttft", "tpot")):
        parts = [problem.residuals(values, f)[rows, col] for f, rows in enumerate(selection) if len(rows)]
        logs = np.concatenate(parts) if parts else np.zeros(0)
        rel = np.abs(np.expm1(logs[~np.isnan(logs)]))
        out[f"{name}_median_abs_error"] = float(np.median(rel)) if rel.size else None
        out[f"{name}_mean_abs_error"] = float(rel.mean()) if rel.size else None
    return out


def folds(measurements: list[Measurement], k: int) -> list[tuple[str, list[np.ndarray], list[np.ndarray]]]:
    """(label, train selection, test selection) per fold: by file if several, else by position mod k."""
    sizes = [len(m.requests) for m in measurements]
    if len(measurements) > 1:
        return [(m.path, [np.arange(n) if f != i else np.arange(0) for f, n in enumerate(sizes)],
                 [np.arange(n) if f == i else np.arange(0) for f, n in enumerate(sizes)])
                for i, m in enumerate(measurements)]
    index = np.arange(sizes[0])
    return [(f"fold {i + 1}/{k}", [index[index % k != i]], [index[index % k == i]]) for i in range(k)]


def calibrate(problem: Problem, k: int = 3) -> dict:
    """Fit on everything, and per fold the held-out error before and after: the calibration's record."""
    everything = [np.arange(len(m.requests)) for m in problem.measurements]
    free, left = identifiable(problem, everything)
    fitted = fit(problem, everything)
    held_out = []
    for label, train, test in folds(problem.measurements, k) if k > 1 or len(problem.measurements) > 1 else []:
        after = fit(problem, train)
        held_out.append({"fold": label, "before": errors(problem, problem.start, test),
                         "after": errors(problem, after, test),
                         "fitted": {p.key: after[p.key] for p in free}})
    return {"fitted": {p.key: fitted[p.key] for p in free}, "left_at_default": left,
            "defaults": {p.key: problem.start[p.key] for p in problem.params},
            "residuals": {"before": errors(problem, problem.start, everything),
                          "after": errors(problem, fitted, everything)},
            "held_out": held_out, "replays": len(problem._cache)}
