"""The twin's NVLink all-reduce against nccl-tests and Vidur's NCCL measurements, before and after.

Run on demand: `python bench/bench_collectives.py`. One all-reduce of S bytes on the 8 GPUs of a dgx-h100
(NVLink 4 via NVSwitch) as the twin prices it (twin.serving.cost.all_reduce), beside the measured
all_reduce_perf times in tests/twin/hw/nccl_tests_h20x8.csv and the old model (2(n-1) steps of 1 us, bytes at
the line rate), per size, with the median and worst absolute error; then the twin against Vidur's DGX A100 and
DGX H100 NCCL times (tests/twin/hw/vidur_all_reduce.csv). Asserts nothing.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "twin" / "hw"))
from test_collectives import measured, twin_all_reduce_s, vidur_errors  # noqa: E402

N, LINE_RATE, OLD_STEP_S = 8, 450e9, 1e-6


def old_s(nbytes: int) -> float:
    return 2 * (N - 1) * OLD_STEP_S + 2 * (N - 1) / N * nbytes / LINE_RATE


def main() -> None:
    print(f"{'bytes':>12} {'nccl-tests us':>14} {'old us':>9} {'err':>7} {'now us':>9} {'err':>7}")
    old_err, new_err = [], []
    for nbytes, t in measured():
        o, n = old_s(nbytes), twin_all_reduce_s(nbytes)
        old_err.append(abs(o / t - 1))
        new_err.append(abs(n / t - 1))
        print(f"{nbytes:>12} {t * 1e6:>14.2f} {o * 1e6:>9.2f} {100 * (o / t - 1):>+6.1f}% {n * 1e6:>9.2f} "
              f"{100 * (n / t - 1):>+6.1f}%")
    for name, errs in (("old", old_err), ("now", new_err)):
        print(f"{name}: median {100 * statistics.median(errs):.1f} %, worst {100 * max(errs):.1f} %")
    for system, server in (("a100_dgx", "dgx-a100"), ("h100_dgx", "dgx-h100")):
        errs = vidur_errors(system, server)
        print(f"Vidur {system} (2/4/8 GPUs, 8-64 MB): " + " ".join(f"{100 * e:+.0f}" for e in errs)
              + f"; median {100 * statistics.median(abs(e) for e in errs):.1f} %, worst "
                f"{100 * max(abs(e) for e in errs):.1f} %")


if __name__ == "__main__":
    main()
