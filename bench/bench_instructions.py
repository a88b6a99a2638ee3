"""Instructions a replay executes, counted by valgrind (cachegrind without its cache model).

A shared machine's speed drifts by tens of per cent over minutes, so two wall times taken apart
measure the drift as much as a change. An instruction count does not drift: the same replay of the
same tree counts the same to within about 1 %. Each figure is the count of a replay of N requests
minus that of a replay of one (start-up, imports and the trace's reading cancel), in a fresh
process with a fixed hash seed and, where `setarch` allows, no address randomisation.
It is not time (a cache miss costs more than an add), but a change that cuts it cuts the
interpreter's work; confirm a gain in wall time with `bench_replay.py --against`.

Run on demand (needs valgrind: `apt-get install valgrind`; a run takes 30-60 s):
    python bench/bench_instructions.py [--trace azure|synthetic] [--requests 5000] [--against DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

SYNTHETIC = "synthetic:poisson?rate=1.2&n={n}&input=128..2048&output=64..512&seed=1"  # about 70 % load


def child(trace: str, n: int) -> None:
    """One replay of the first `n` requests in this process."""
    from twin.replay import RunSpec, replay
    from twin.traces import TraceOptions, iter_synthetic, load_trace, parse_synthetic

    if trace == "azure":
        requests = load_trace("azure-conv-2023", TraceOptions(max_context=4096, limit=n)).requests
    else:
        requests = iter_synthetic(parse_synthetic(SYNTHETIC.format(n=n)))
    replay(RunSpec("lpu-8x-4nm", "llama2-7b", tp=8).build(), requests)


def instructions(trace: str, n: int, tree: str | None) -> int:
    """Instructions of one child process under cachegrind."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (os.path.abspath(tree), env.get("PYTHONPATH")) if p)
    argv = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
            sys.executable, __file__, "--child", trace, "--requests", str(n)]
    if shutil.which("setarch"):
        argv = ["setarch", os.uname().machine, "-R", *argv]
    out = subprocess.run(argv, env=env, capture_output=True, text=True)
    found = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    if out.returncode or found is None:
        raise SystemExit(f"valgrind run failed ({out.returncode}): {out.stderr.strip().splitlines()[-1:]}")
    return int(found.group(1).replace(",", ""))


def replay_instructions(trace: str, n: int, tree: str | None = None) -> int:
    return instructions(trace, n, tree) - instructions(trace, 1, tree)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", choices=["azure", "synthetic"], default="azure",
                    help="azure-conv-2023 (its first N requests) or a synthetic mix at about 70 %% load")
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--against", metavar="DIR", help="also count the checkout in DIR and print the ratio")
    ap.add_argument("--child", choices=["azure", "synthetic"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.requests)
        sys.exit()
    if args.requests < 2:
        raise SystemExit("--requests must be at least 2 (one request's replay is the baseline)")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    mine = replay_instructions(args.trace, args.requests)
    from figures import core_build
    print(f"{args.trace}, {args.requests:,} requests: {mine / 1e6:,.0f} M instructions in the replay "
          f"(this checkout, {core_build()} core)")
    if args.against:
        theirs = replay_instructions(args.trace, args.requests, args.against)
        print(f"{args.trace}, {args.requests:,} requests: {theirs / 1e6:,.0f} M instructions in the replay "
              f"({args.against}); {args.against} / this checkout: {theirs / mine:.2f}")
