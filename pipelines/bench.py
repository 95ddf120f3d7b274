"""``make bench`` / ``make evaluate``: the applications' benchmark and evaluation commands, in sequence.

Each command prints one JSON object; this runner prints it under a heading and writes all of them
to ``<out>/<suite>.json`` so the figures can be pasted into a report. Evaluations that need the real
data in ``../shared/data`` are skipped with a message when it is absent.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from pipelines.settings import PROJECT_ROOT, load_settings

SHARED = load_settings().core.shared_data
FMLAKE = str(Path(sys.executable).parent / "fmlake")
RETC = SHARED / "coding" / "retc_scian_2008_2019.csv"
# issue 16's time splits: train <= 2013 -> test 2014, <= 2014 -> 2017, <= 2017 -> 2019 (one model each), with
# the threshold re-estimated from coders' decisions replayed over 10 record orders (no retraining)
CODING_SPLITS = ["coding", "evaluate", "--train", str(RETC), "--time-splits", "2013:2014,2014:2017,2017:2019",
                 "--reestimate-batches", "5", "--reestimate-repeats", "10", "--json"]

SUITES: dict[str, list[tuple[str, list[str], Path | None]]] = {
    # name, arguments of fmlake, real-data file it needs (None: self-contained)
    "bench": [
        ("news", ["news", "bench", "--json"], None),
        ("imagery", ["imagery", "bench", "--json"], None),
        ("search", ["search", "benchmark", "--json"], None),
        ("lakehouse", ["lakehouse", "bench", "--json"], None),
        ("cluster", ["cluster", "bench", "--json"], None),
        ("coding", CODING_SPLITS, RETC),
        ("coding-speed", ["coding", "bench", "--register", str(RETC), "--json"], RETC),
    ],
    "evaluate": [
        ("coding", CODING_SPLITS, RETC),
        ("search", ["search", "evaluate", "--queries", str(RETC), "--json"], RETC),
        ("imagery", ["imagery", "evaluate", "--input", str(SHARED / "imagery" / "sentinel2"),
                     "--out", str(PROJECT_ROOT / "data" / "bench" / "imagery_sentinel2"), "--json"],
         SHARED / "imagery" / "sentinel2"),
        ("news", ["news", "extract", "--input", str(SHARED / "news" / "migration_news_2020.json"), "--json"],
         SHARED / "news" / "migration_news_2020.json"),
    ],
}


def run_suite(suite: str, only: list[str] | None, out: Path) -> int:
    results, failed = {}, 0
    for name, args, needs in SUITES[suite]:
        if only and name not in only:
            continue
        print(f"\n== {suite} {name}: fmlake {' '.join(args)}", flush=True)
        if needs is not None and not needs.exists():
            print(f"   skipped: {needs} is absent (real data lives in ../shared/data)")
            results[name] = {"skipped": f"{needs} absent"}
            continue
        t0 = time.time()
        proc = subprocess.run([FMLAKE, *args], capture_output=True, text=True, cwd=PROJECT_ROOT)
        seconds = round(time.time() - t0, 1)
        if proc.returncode != 0:
            failed += 1
            print(proc.stdout[-2000:], proc.stderr[-4000:], sep="\n")
            results[name] = {"error": f"exit {proc.returncode}", "seconds": seconds}
            continue
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
        try:
            payload = json.loads(proc.stdout)
        except json.JSONDecodeError:
            payload = [json.loads(ln) for ln in lines]  # one JSON object per line (e.g. news extract)
        print(proc.stdout if len(proc.stdout) < 6000 else proc.stdout[:6000] + "\n   … (full output in the file)")
        results[name] = {"seconds": seconds, "output": payload}
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{suite}.json"
    target.write_text(json.dumps(results, ensure_ascii=False, indent=2))
    print(f"\nall outputs: {target}")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("suite", choices=sorted(SUITES), nargs="?", default="bench")
    parser.add_argument("--only", nargs="*", help="application names to run (default: all)")
    parser.add_argument("--out", default=str(PROJECT_ROOT / "data" / "bench"))
    ns = parser.parse_args()
    sys.exit(run_suite(ns.suite, ns.only, Path(ns.out)))


if __name__ == "__main__":
    main()
