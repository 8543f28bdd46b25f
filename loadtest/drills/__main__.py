"""Run the fault drills and print one table.

    uv run python -m loadtest.drills              # the short drills (as tests/drills runs them)
    uv run python -m loadtest.drills --long       # more visitors, longer faults, Redis with AOF too
    uv run python -m loadtest.drills --only redis_kill,flushall --db postgresql
    uv run python -m loadtest.drills --soak 15    # 1,000 dashboards + steady check-ins, 15 minutes

Each drill starts its own stack (database, Redis, ``occupancy serve --workers 2``) in a temporary
folder; PostgreSQL is a private cluster unless OCCUPANCY_TEST_POSTGRES_URL is set (the SQL-down
drill always uses a private one: it stops it).
"""

import argparse
import asyncio
import platform
import sys
import time
from dataclasses import replace

from loadtest.drills import drills
from loadtest.drills.harness import Stack
from loadtest.drills.verdict import DrillResult

# (drill, database, extra Stack options) in the order they run.
PLAN = [
    ("redis_kill", "sqlite", {}),
    ("redis_kill", "sqlite", {"aof": True}),
    ("flushall", "sqlite", {}),
    ("worker_kill_sql_stall", "sqlite", {}),
    ("worker_kill_sql_stall", "postgresql", {}),
    ("sql_stall_beyond_lease", "sqlite", {}),
    ("sql_down", "postgresql", {}),
    ("redis_down", "sqlite", {}),
    ("redis_hung", "sqlite", {}),
    ("sigterm", "sqlite", {}),
    ("sigterm", "postgresql", {}),
]

HEADER = ("fault", "db", "max count/capacity seen", "acknowledged lost",
          "venues differing from SQL at rest", "5xx other than 503 JSON", "503s")


def row(result: DrillResult, venues: int) -> tuple[str, ...]:
    at_rest = f"{len(result.differing)} of {venues}"
    if result.settled_after is not None:
        at_rest += (f" (equal {result.settled_after:.0f} s after the load; "
                    f"{result.first_differing} differed when it stopped)")
    else:
        at_rest += " (never equal)"
    lost = f"{len(result.lost)} of {result.acked_check_ins} in + {result.acked_check_outs} out"
    bad = sum(result.bad_5xx.values())
    no_retry = sum(result.no_retry_after.values())
    n503 = f"{result.n503}" + (f" ({no_retry} without Retry-After)" if no_retry else "")
    seen = f"{result.max_ratio:.2f} ({result.max_seen.split(' (')[0]})"
    return (result.fault, result.db, seen, lost, at_rest,
            f"{bad} {result.bad_5xx}" if bad else "0", n503)


def table(rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


async def run_plan(scale: drills.Scale, plan, db: str | None) -> int:
    rows, details, failed = [], [], 0
    for name, kind, options in plan:
        options = {**drills.STACKS.get(name, {}), **options}
        kind = options.pop("db", db or kind)
        print(f"-- {name} on {kind} {options or ''}", file=sys.stderr, flush=True)
        async with Stack(kind, venues=scale.venues, **options) as stack:
            outcome = await getattr(drills, name)(stack, scale)
        result, sweep = outcome if isinstance(outcome, tuple) else (outcome, None)
        rows.append(row(result, scale.venues))
        failed += not result.invariants_hold or bool(result.bad_5xx)
        detail = [f"- {result.fault} ({result.db}, {result.seconds:.0f} s): {'; '.join(result.notes)}; "
                  f"the server: {result.events}; answers: {result.statuses}"]
        if result.over_capacity or result.lost or result.differing:
            detail.append("  BROKEN: " + "; ".join(
                (result.over_capacity + result.lost + result.differing)[:8]))
        if sweep is not None:
            detail.append(f"  routes answering otherwise than 503 JSON + Retry-After during the outage: "
                          f"{sweep.bad or 'none'}; answered after more than {sweep.SLOW:.0f} s: "
                          f"{dict(sweep.slow) or 'none'}")
        details += detail
        print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(table(rows))
    print()
    print("\n".join(details))
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--long", action="store_true", help="the long drills (700 visitors, 20 venues)")
    parser.add_argument("--only", default="", help="drill names, comma-separated")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), help="run every drill on this database")
    parser.add_argument("--visitors", type=int, help="override the crowd's size")
    parser.add_argument("--soak", type=float, metavar="MINUTES",
                        help="instead of the drills: 1,000 dashboards + steady check-ins this long")
    parser.add_argument("--dashboards", type=int, default=1000)
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"{started}; {platform.node()}; {platform.processor() or platform.machine()}; "
          f"Python {platform.python_version()}; command: {' '.join(sys.argv)}")
    if args.soak:
        from loadtest.drills.soak import soak

        ok = asyncio.run(soak(args.soak, args.dashboards, args.db or "sqlite"))
        sys.exit(0 if ok else 1)
    scale = drills.LONG if args.long else drills.SHORT
    if args.visitors:
        scale = replace(scale, crowd=replace(scale.crowd, visitors=args.visitors))
    # Short: each drill once, on SQLite (except SQL down); long: the whole plan.
    short = [p for i, p in enumerate(PLAN) if p[0] not in {q[0] for q in PLAN[:i]}]
    plan = PLAN if args.long else short
    if args.only:
        wanted = args.only.split(",")
        plan = [p for p in PLAN if p[0] in wanted]
    failed = asyncio.run(run_plan(scale, plan, args.db))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
