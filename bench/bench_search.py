"""Search against a full grid at the issue's size, and search speed (prints, asserts nothing).

    python bench/bench_search.py [--requests 2000] [--trials 60] [--grid-db FILE]

The first N requests of azure-conv-2023 on Llama-2-7B, TTFT <= 2 s and TPOT <= 100 ms, on the ADOR
MAC-tree template (ador-mactree-8x): four hardware fields (trees, lanes, HBM stacks, clock) and two
serving fields (max batch, scheduling policy), 432 designs, under an area budget of 600 mm² of whole dies.
The grid is `twin sweep --find-max-rate` (two sweeps of 216 points: a local sweep holds at most 256), kept
in --grid-db to reuse; the search is `twin search` with 1 and then 2 workers, each on a fresh database.
Prints the grid's best goodput within the budget, each search's best and how many trials it took to come
within 5 % of the grid's, trials per minute, what limits the recommended design, and the front over goodput
and area of each search's feasible trials.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from services.search_view import limit_text
from twin.explore.pareto import pareto_front

BASE = ["azure-conv-2023", "--model", "llama2-7b", "--server", "ador-mactree-8x", "--slo-ttft", "2",
        "--slo-tpot", "0.1"]
HARDWARE = {"chip.mac_trees": "16,32,64,128", "chip.lanes": "32,64,128", "chip.memory.stacks": "2,4,8",
            "chip.clock_ghz": "0.8,1.2,1.6"}
POLICIES = ("prefill-first", "chunked")
BATCHES = "16,64"
BUDGET_MM2 = 600


def twin(db: str, *args: str) -> dict:
    cmd = [sys.executable, "-P", "-m", "services.cli", "--db", db, *args, "--json"]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def grid(db: str, requests: int) -> list[dict]:
    points = []
    for policy in POLICIES:
        axes = [a for f, v in {**HARDWARE, "max_batch": BATCHES, "policy": policy}.items() for a in ("--set", f"{f}={v}")]
        points += twin(db, "sweep", *BASE, "--limit", str(requests), "--find-max-rate", *axes)["points"]
    return points


def search(requests: int, trials: int, workers: int) -> tuple[dict, float]:
    space = [a for f, v in {**HARDWARE, "max_batch": BATCHES, "policy": ",".join(POLICIES)}.items()
             for a in ("--space", f"{f}={v}")]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        out = twin(f"sqlite:///{Path(tmp) / 's.db'}", "search", *BASE, "--limit", str(requests), *space,
                   "--space", "chip.sram_kb=1107", "--objective", "goodput:max",
                   "--constraint", f"total_mm2<={BUDGET_MM2}", "--trials", str(trials), "--workers", str(workers))
        return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--grid-db", default=None, help="keep the grid's runs here (a second run reads its JSON)")
    args = ap.parse_args()
    cache = Path(args.grid_db).with_suffix(".json") if args.grid_db else None
    if cache and cache.exists():
        points = json.loads(cache.read_text())
    else:
        points = grid(f"sqlite:///{args.grid_db or tempfile.mktemp(suffix='.db')}", args.requests)
        if cache:
            cache.write_text(json.dumps(points))
    within = [p for p in points if p["status"] == "complete" and (p.get("total_mm2") or 1e18) <= BUDGET_MM2]
    best = max(within, key=lambda p: p["goodput_rps"] or 0.0)
    print(f"grid: {len(points)} designs, {len(within)} within {BUDGET_MM2} mm²; best goodput "
          f"{best['goodput_rps']:.3f} req/s at {best['values']} ({best['total_mm2']:.1f} mm²)")
    for workers in (1, 2):
        out, wall = search(args.requests, args.trials, workers)
        rows = sorted(out["trials"], key=lambda r: r["trial"])
        good = [r["trial"] for r in rows if r["feasible"] and (r["objectives"]["goodput"] or 0) >= 0.95 * best["goodput_rps"]]
        top = max((r for r in rows if r["feasible"]), key=lambda r: r["objectives"]["goodput"])
        print(f"search, {workers} worker(s): {len(rows)} trials in {wall:.0f} s = {len(rows) / wall * 60:.1f} "
              f"trials/min; best goodput {top['objectives']['goodput']:.3f} req/s "
              f"({top['objectives']['goodput'] / best['goodput_rps']:.1%} of the grid's) at {top['values']}; "
              f"first within 5 %: trial {good[0] if good else 'none'}")
        print(f"  recommended: trial {out['recommended']['trial']}, limited by: {limit_text(out['recommended'])}")
        # each design once (TPE draws a good one again), and only designs that keep the SLO at some rate
        designs = {json.dumps(r["values"], sort_keys=True): r for r in rows
                   if r["feasible"] and (r["figures"].get("goodput_rps") or 0) > 0}
        feasible = list(designs.values())
        front = pareto_front([r["figures"] for r in feasible], {"goodput_rps": "max", "total_mm2": "min"})
        print("  front of its feasible designs over goodput (max) and area (min):")
        for r in sorted((feasible[i] for i in front), key=lambda r: r["figures"]["total_mm2"]):
            print(f"    {r['figures']['goodput_rps']:.3f} req/s  {r['figures']['total_mm2']:.1f} mm²  {r['values']}")


if __name__ == "__main__":
    main()
