"""The cost model as the engine asks it: each step shape evaluated once, decode runs in closed form.

A pure-decode step of n sequences differs from the next only in its attended context.
Where every quantity of a layer's cost is affine in that context (bytes, MACs, vector
elements and their times are, for a fixed n, unless a KV codec's exposed dequantization,
a max(), switches on), the layer cost of n decodes is kept per n as a value at zero
context plus a per-token slope, and decode runs take their step times and accounting from
those without calling the cost model again. Whether it is affine is checked, not assumed:
four probes (0, 1 Ki, 4 Mi, 8 Mi tokens) must lie on one line, field by field; otherwise
each decode shape is evaluated directly. Other shapes (prefill, mixed steps) are cached
whole. The cache belongs to one CostModel: a policy switch makes a new one.
"""

from __future__ import annotations

from twin.serving.closed_form import StepTimes, new_affine
from twin.serving.cost import CostModel, LayerCost, StepShape
from twin.serving.stats import WORK_FIELDS, mean_work, work_of

_FIELDS = LayerCost._fields
PROBES = (0, 1 << 10, 1 << 22, 1 << 23)  # contexts (tokens) at which linearity is checked
LINEAR_TOL = 1e-9  # relative misfit below which a probe counts as on the line
LIMIT = 4096  # shapes kept before the whole-shape cache is emptied: prefill shapes recur as prompt
# lengths do (a prefill-first step of one prompt is fixed by its length; prompts of 128..2048 tokens make
# about 1,900 such shapes, which a smaller limit kept evicting); about 2.6 MB when full (tracemalloc)


def run_times(cm: CostModel, l0: LayerCost, l1: LayerCost, head_s: float, layers: float | None = None) -> StepTimes:
    """Step k of a decode run as the max of affine pieces (memory, compute, vector) in k, from the layer
    costs of its first two steps, with exposed ESL and codec time and the fixed head and host parts:
    the line through those two steps, read at step 0 with one step per unit."""
    zero = tuple(l0)
    slope = tuple(b - a for a, b in zip(zero, l1))
    return _RunLine(zero, slope, layers or cm.model.layers, head_s + cm.server.host.step_overhead_s).times(0, 1)


def _line(points: list[LayerCost]) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """(values at 0, slopes per token), field by field, if every field of the probes lies on a line."""
    x = PROBES
    rows = points
    zero = rows[0]
    slope = tuple((b - a) / x[-1] for a, b in zip(zero, rows[-1]))
    for xi, row in zip(x[1:-1], rows[1:-1]):
        for a, k, got in zip(zero, slope, row):
            want = a + xi * k
            if abs(got - want) > LINEAR_TOL * max(abs(got), abs(want), 1e-30):
                return None
    return zero, slope


def shape_costs(cost: CostModel) -> ShapeCosts:
    """The one cache of `cost`, kept on the cost model itself, so that the step backend (asking a
    step's time) and the replica (accounting its work) share it and a shape is evaluated once."""
    cache = cost.shape_cache
    if cache is None:
        cache = cost.shape_cache = ShapeCosts(cost)
    return cache


class ShapeCosts:
    def __init__(self, cost: CostModel):
        self.cost = cost
        self._layer: dict[StepShape, LayerCost] = {}
        self._decode: dict[int, tuple | None] = {}  # n -> (fields at 0, per token), or None if not affine
        self._head: dict[int, float] = {}
        self._lines: dict[int, _RunLine | None] = {}  # n -> its line, None if not affine

    def layer(self, s: StepShape) -> LayerCost:
        c = self._layer.get(s)
        if c is None:
            if len(self._layer) >= LIMIT:
                self._layer.clear()
            c = self._layer[s] = self.cost.layer(s)
        return c

    def step_time(self, s: StepShape) -> float:
        """CostModel.step_time from the cached layer cost, so a step's shape is evaluated once
        (tests/twin/serving/test_shape_cost.py holds the two equal)."""
        if s.tokens == 0:
            return 0.0
        cm = self.cost
        return cm.model.layers * self.layer(s).time_s + self.head_time(s.outputs) + cm.server.host.step_overhead_s

    def _decode_line(self, n: int) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        if n not in self._decode:
            shapes = [StepShape(decode_seqs=n, decode_context=c, outputs=n) for c in PROBES]
            self._decode[n] = _line([self.cost.layer(s) for s in shapes])
        return self._decode[n]

    def decode_layer(self, n: int, context: float) -> LayerCost:
        """One layer of a step of `n` decodes attending `context` tokens in all."""
        line = self._decode_line(n) if context <= PROBES[-1] else None
        if line is None:
            return self.layer(StepShape(decode_seqs=n, decode_context=context, outputs=n))
        zero, slope = line
        return LayerCost(*[a + context * k for a, k in zip(zero, slope)])

    def head_time(self, n: int) -> float:
        """The LM head and sampler of a step whose `n` sequences sample a token (CostModel.head_time)."""
        t = self._head.get(n)
        if t is None:
            t = self._head[n] = self.cost.head_time(StepShape(decode_seqs=n, outputs=n))
        return t

    def decode_times(self, n: int, context: float, growing: float) -> StepTimes:
        """Step k of a run of `n` decodes from `context`, `growing` of them adding a token per step."""
        lines = self._lines
        line = lines[n] if n in lines else self._run_line(n)
        if line is None or context + growing > PROBES[-1]:
            l0, l1 = self.decode_layer(n, context), self.decode_layer(n, context + growing)
            return run_times(self.cost, l0, l1, self.head_time(n))
        return line.times(context, growing)

    def decode_work(self, n: int, first: float, last: float) -> tuple[float, ...]:
        """The WORK_FIELDS of one layer of `n` decodes, averaged over a run whose contexts go from `first`
        to `last` (exact where the line is proven: then the mean is the middle step's)."""
        lines = self._lines
        line = lines[n] if n in lines else self._run_line(n)
        if line is None or last > PROBES[-1]:
            return mean_work(work_of(self.decode_layer(n, first)), work_of(self.decode_layer(n, last)))
        return line.work((first + last) / 2)

    def _run_line(self, n: int) -> _RunLine | None:
        line = self._decode_line(n)
        self._lines[n] = out = None if line is None else _RunLine(
            *line, self.cost.model.layers, self.head_time(n) + self.cost.server.host.step_overhead_s)
        return out


_TIME = tuple(_FIELDS.index(f) for f in ("mem_s", "compute_s", "vxe_s", "power_s", "blocks_s"))
_FIXED = tuple(_FIELDS.index(f) for f in ("esl_exposed_s", "codec_s", "launch_s"))
_CODEC = _FIELDS.index("codec_s")
_STRETCH = _FIELDS.index("stretch")
_WORK = tuple(_FIELDS.index(f) for f in WORK_FIELDS)


class _RunLine:
    """A decode line of one batch size (each LayerCost field at context 0 and its slope per context token),
    pre-multiplied for the two questions a decode run asks: its step times and its work. `head_s` is the
    step's fixed part outside the layers (LM head, sampler, host)."""

    __slots__ = ("time_a", "time_b", "fixed_a", "fixed_b", "codec_b", "work_a", "work_b")

    def __init__(self, zero: tuple[float, ...], slope: tuple[float, ...], layers: float, head_s: float):
        layers = layers * zero[_STRETCH]  # a pipeline's schedule stretches every layer's time alike
        self.time_a = [layers * zero[i] for i in _TIME]
        self.time_b = [layers * slope[i] for i in _TIME]
        self.fixed_a = layers * sum(zero[i] for i in _FIXED) + head_s
        self.fixed_b = layers * sum(slope[i] for i in _FIXED)
        self.codec_b = layers * slope[_CODEC]
        self.work_a = tuple(zero[i] for i in _WORK)
        self.work_b = tuple(slope[i] for i in _WORK)

    def times(self, context: float, growing: float) -> StepTimes:
        const, grows = self.fixed_a + context * self.fixed_b, growing * self.codec_b
        return StepTimes([new_affine((a + context * b + const, growing * b + grows))
                          for a, b in zip(self.time_a, self.time_b)])

    def work(self, context: float) -> tuple[float, ...]:
        return tuple([a + context * b for a, b in zip(self.work_a, self.work_b)])
