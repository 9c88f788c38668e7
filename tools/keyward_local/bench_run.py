"""make bench's entry point (scripts/bench: `python -m keyward_local.bench_run`): the single-account
sweeps (keyward_local.bench; BENCH_SIZES, BENCH_SEED, BENCH_THROTTLE_RPS), then the organisation
sweeps (keyward_local.bench_org; BENCH_ORG), each on a stack brought up fresh. Prints the tables,
writes every sweep's row to target/bench/results.json, and exits 0 only if every budget holds. The
stack is left down at the end (scripts/local-stack down)."""

from __future__ import annotations

import json
import os
import sys
import time

from keyward_local.bench import BenchError, SweepResult, account_sweeps, budget_failures, table
from keyward_local.bench_org import DEFAULT_ORGS, OrgSweepResult, org_budget_failures, org_sweeps, org_table, parse_orgs
from keyward_local.client import local_stack
from keyward_local.console import LocalStackError, say
from keyward_local.paths import ROOT

RESULTS = ROOT / "target" / "bench" / "results.json"


def main() -> int:
    """The sweeps, the tables, the budgets: 0 when every budget holds."""
    try:
        sizes = [int(s) for s in os.environ.get("BENCH_SIZES", "1000,5000").split(",") if s.strip()]
        seed = int(os.environ.get("BENCH_SEED", "7"))
        throttle = float(os.environ.get("BENCH_THROTTLE_RPS", "5"))
        orgs = parse_orgs(os.environ.get("BENCH_ORG", DEFAULT_ORGS))
    except (ValueError, BenchError) as error:
        print(f"bench: {error} (BENCH_SIZES, BENCH_SEED, BENCH_THROTTLE_RPS, BENCH_ORG)", file=sys.stderr)
        return 2
    results: list[SweepResult] = []
    org_results: list[OrgSweepResult] = []
    started = time.monotonic()
    failed = None
    try:
        results.extend(account_sweeps(sizes, seed, throttle))
        org_results.extend(org_sweeps(orgs, seed))
    except (BenchError, LocalStackError) as error:
        failed = error
    finally:
        local_stack("down")
    problems = budget_failures(results) + org_budget_failures(org_results)
    rows: list[SweepResult | OrgSweepResult] = [*results, *org_results]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    if results:
        print()
        print(table(results))
    if org_results:
        print(org_table(org_results))
    print(f"\nresults: {RESULTS.relative_to(ROOT)}; bench took {time.monotonic() - started:.0f} s")
    if failed is not None:
        print(f"bench FAILED: {failed}", file=sys.stderr)
        return 1
    if problems:
        for problem in problems:
            print(f"bench: budget FAILED: {problem}", file=sys.stderr)
        return 1
    say("bench OK: every budget holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
