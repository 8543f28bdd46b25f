"""The benchmark's one table (medians over repetitions) and its plot of the scaling curves."""

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

COLUMNS = (
    ("db", 10), ("redis", 7), ("mix", 6), ("venues", 6), ("dashboards", 10), ("check-ins/s", 11),
    ("req/s", 7),
    ("p50 ms", 6), ("p99 ms", 6), ("refusals", 8), ("errors", 6), ("dash p50/p99 ms", 15),
    ("event p50/p99 ms", 16), ("busy event p50/p99", 18), ("client CPU %", 12), ("KiB/socket", 10),
    ("rows/batch", 10), ("CPU us/req server/Redis", 23), ("raw Redis/s", 11), ("ratio", 5),
    ("bare req/s", 10), ("bare p50/p99 ms", 15), ("bare CPU us/req", 15), ("x bare req/s", 12),
    ("x bare CPU", 10),
    ("runs", 4), ("invariants", 10),
)


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _num(value, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _pair(a, b) -> str:
    return "-" if a is None else f"{_num(a, 1)}/{_num(b, 1)}"


def progress_line(r) -> str:
    dash = (f"dash p50/p99 {_num(r.dash_p50_ms, 1)}/{_num(r.dash_p99_ms, 1)} ms, "
            f"{_num(r.kib_per_socket, 1)} KiB/socket" if r.dash_p99_ms is not None
            else r.dash_note)
    return (f"  {r.database} {redis_of(r)} Redis {r.mix} {r.venues} venues {r.dashboards} dashboards "
            f"run {r.repetition}: "
            f"{r.check_ins_per_s:,.0f} check-ins/s ({r.requests_per_s:,.0f} req/s), "
            f"p50 {r.p50_ms:.1f} ms p99 {r.p99_ms:.1f} ms, {r.refusals} refusals, {r.errors} errors"
            f"{' [' + r.statuses + ']' if r.statuses else ''}; {dash}; raw Redis "
            f"{r.raw_redis_per_s:,.0f}/s (ratio {r.ratio_to_raw:.2f}); server: event-loop lag p99/worst "
            f"{_bounds(r, 'loop_lag')} ms, SQL batch p99/worst {_bounds(r, 'sql_batch')} ms (bucket "
            f"bounds); CPU per request: server {_num(getattr(r, 'server_cpu_us_per_request', None))} us, "
            f"Redis {_num(getattr(r, 'redis_cpu_us_per_request', None))} us; load generator "
            f"{_num(getattr(r, 'generator_cpu_percent', None))} % of a CPU; {r.invariants}")


def _bounds(r, name: str) -> str:
    return f"{_num(getattr(r, name + '_p99_ms', None), 1)}/{_num(getattr(r, name + '_max_ms', None), 1)}"


def grouped(results) -> dict[tuple, list]:
    groups: dict[tuple, list] = defaultdict(list)
    for r in results:
        groups[(r.database, redis_of(r), r.mix, r.venues, r.dashboards)].append(r)
    return groups


def redis_of(r) -> str:
    return getattr(r, "redis", "single")  # runs recorded before the cluster option: single


def _ratio(runs, numerator: str, denominator: str):
    """Median over the runs of each run's own ratio (service and bare of the same repetition)."""
    return _median(getattr(r, numerator, None) / getattr(r, denominator)
                   if getattr(r, numerator, None) is not None and getattr(r, denominator, None)
                   else None for r in runs)


def booking_cost(results) -> list[str]:
    """The "booked" mix beside the plain check-ins-only one of the same repetition, per database
    and Redis: what reading the places held costs a check-in (medians of each repetition's ratio)."""
    lines = []
    blocks = defaultdict(dict)
    for r in results:
        if r.mix in ("in", "booked"):
            blocks[(r.database, redis_of(r))].setdefault(r.repetition, {})[r.mix] = r
    for (db, redis), repetitions in blocks.items():
        pairs = [(runs["booked"], runs["in"]) for runs in repetitions.values()
                 if "booked" in runs and "in" in runs]
        if not pairs:
            continue
        def ratio(name: str, pairs=pairs) -> str:
            return _num(_median(getattr(b, name) / getattr(p, name)
                                if getattr(b, name) and getattr(p, name) else None
                                for b, p in pairs), 2)

        lines.append(f"booking cost ({db}, {redis} Redis, {len(pairs)} runs): check-ins at venues "
                     f"with places held / at plain venues: check-ins/s x{ratio('check_ins_per_s')}, "
                     f"server CPU per request x{ratio('server_cpu_us_per_request')}, Redis CPU "
                     f"per request x{ratio('redis_cpu_us_per_request')}")
    return lines


def table(results) -> str:
    header = " | ".join(name.ljust(width) for name, width in COLUMNS)
    lines = [header, "-|-".join("-" * width for _, width in COLUMNS)]
    notes = set()
    for (db, redis, mix, venues, dashboards), runs in grouped(results).items():
        dash = "-"
        p50, p99 = _median(r.dash_p50_ms for r in runs), _median(r.dash_p99_ms for r in runs)
        if p99 is not None:
            dash = f"{_num(p50, 1)}/{_num(p99, 1)}"
        else:
            dash = "not measured"
            notes.add(runs[0].dash_note)
        ok = sum(r.invariants_ok for r in runs)
        cells = [
            db, redis, mix, str(venues), str(dashboards),
            _num(_median(r.check_ins_per_s for r in runs)), _num(_median(r.requests_per_s for r in runs)),
            _num(_median(r.p50_ms for r in runs), 1), _num(_median(r.p99_ms for r in runs), 1),
            _num(_median(r.refusals for r in runs)), _num(_median(r.errors for r in runs)), dash,
            _pair(_median(getattr(r, "probe_event_p50_ms", None) for r in runs),
                  _median(getattr(r, "probe_event_p99_ms", None) for r in runs)),
            _pair(_median(getattr(r, "event_p50_ms", None) for r in runs),
                  _median(getattr(r, "event_p99_ms", None) for r in runs)),
            _num(_median(getattr(r, "client_cpu_percent", None) for r in runs)),
            _num(_median(r.kib_per_socket for r in runs), 1),
            _num(_median(getattr(r, "rows_per_batch", None) for r in runs), 1),
            _pair(_median(getattr(r, "server_cpu_us_per_request", None) for r in runs),
                  _median(getattr(r, "redis_cpu_us_per_request", None) for r in runs)),
            _num(_median(r.raw_redis_per_s for r in runs)),
            _num(_median(r.ratio_to_raw for r in runs), 2),
            _num(_median(getattr(r, "bare_requests_per_s", None) for r in runs)),
            _pair(_median(getattr(r, "bare_p50_ms", None) for r in runs),
                  _median(getattr(r, "bare_p99_ms", None) for r in runs)),
            _num(_median(getattr(r, "bare_server_cpu_us_per_request", None) for r in runs)),
            _num(_ratio(runs, "requests_per_s", "bare_requests_per_s"), 2),
            _num(_ratio(runs, "server_cpu_us_per_request", "bare_server_cpu_us_per_request"), 2),
            str(len(runs)),
            "ok" if ok == len(runs) else f"BROKEN {len(runs) - ok}",
        ]
        lines.append(" | ".join(cell.ljust(width) for cell, (_, width) in zip(cells, COLUMNS, strict=True)))
    text = "\n".join(lines)
    text += ("\n\nmedians of the runs; mix in+out: each wrk connection checks a party in, then "
             "one out; mix in: check-ins only, at venues with room for all; mix booked: the same at "
             "venues run by a slot under way with places held for bookings; check-ins/s counts "
             "acknowledged check-ins (201) only, req/s adds check-outs and refusals; p50/p99: "
             "wrk latency over all its requests; dash: delay "
             "from a manager's own check-in request to the update on their dashboard (its HTTP "
             "answer included); event: from that check-in's event (its time in Redis) to the "
             "update on the manager's screen; busy event: the same for the oldest event of every "
             "update the N dashboards get (at loaded venues, so the pacing of 5 updates a second "
             "per venue is in it: up to 200 ms); client CPU: the dashboard client processes of "
             "the load generator, % of one CPU, on the same machine as the server; rows/batch: SQL "
             "writes per group-commit transaction; CPU us/req: CPU time (user + system) of the "
             "server's processes, and of Redis, during the load, per request wrk made (Redis's "
             "includes the capacity sampler's script, which grows with the venues); ratio: "
             "check-ins/s / raw Redis EVALSHA/s of the same script (redis-benchmark, unpipelined, "
             "same Redis, same run; on a cluster, at the master holding its keys); bare: the same "
             "wrk load on a bare FastAPI endpoint with the check-in's body (loadtest/peak/bare.py, "
             "same uvicorn options and workers) right after the service's runs of each repetition; "
             "x bare req/s: the service's req/s / the bare one's; x bare CPU: the service's server "
             "CPU per request / the bare one's (medians of each repetition's ratio)")
    for note in sorted(notes):
        text += f"\ndashboards {note}"
    return text


def plot(results, path: Path, title: str) -> None:
    """Four panels: throughput and latency as venues grow, throughput and dashboard delay as
    dashboards grow; one line per database."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {(db if redis == "single" else f"{db} {redis}", v, n): runs
              for (db, redis, mix, v, n), runs in grouped(results).items() if mix == "in+out"}
    fig, ((venue_rate, dash_rate), (venue_p99, dash_p99)) = plt.subplots(2, 2, figsize=(11, 7.5))
    for db in sorted({db for db, _, _ in groups}):
        by_venues = sorted((v, runs) for (d, v, n), runs in groups.items() if d == db and n == 0)
        dash_venues = {v for (d, v, n) in groups if d == db and n > 0}
        by_dashboards = sorted((n, runs) for (d, v, n), runs in groups.items()
                               if d == db and v in dash_venues)
        for axis, points, metric in (
            (venue_rate, by_venues, "check_ins_per_s"), (venue_p99, by_venues, "p99_ms"),
            (dash_rate, by_dashboards, "check_ins_per_s"), (dash_p99, by_dashboards, "dash_p99_ms"),
        ):
            xs = [x for x, _ in points]
            ys = [_median(getattr(r, metric) for r in runs) for _, runs in points]
            ys = [y if y is not None else float("nan") for y in ys]
            if points:
                axis.plot(xs, ys, marker="o", label=db)
    venue_rate.set(xscale="log", title="check-ins/s as venues grow (0 dashboards)", ylabel="check-ins/s")
    venue_p99.set(xscale="log", title="HTTP p99 as venues grow", ylabel="ms", xlabel="venues under load")
    dash_rate.set(title="check-ins/s as dashboards grow", ylabel="check-ins/s")
    dash_p99.set(title="event-to-dashboard p99", ylabel="ms", xlabel="open dashboards")
    for axis in (venue_rate, venue_p99, dash_rate, dash_p99):
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=8)
    fig.suptitle(f"occupancy: durable check-in + check-out under wrk ({title}; medians)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    """Table and plot of the runs in one or more ``bench --json`` files (e.g. a run of the venue
    curve and a separate run with 5,000 dashboards)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("json", nargs="+", type=Path)
    parser.add_argument("--plot", type=Path, help="write the curves of all the runs here")
    parser.add_argument("--title", default="")
    args = parser.parse_args(argv)
    results = [SimpleNamespace(**run) for path in args.json for run in json.loads(path.read_text())["runs"]]
    print(table(results))
    if args.plot:
        plot(results, args.plot, args.title)


if __name__ == "__main__":
    main()
