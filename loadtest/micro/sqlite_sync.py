"""The cost of SQLite's ``PRAGMA synchronous=FULL`` against NORMAL, side by side.

    uv run python -m loadtest.micro.sqlite_sync --rounds 3 --commits 400

Writes group-commit batches (each batch one transaction, as the journal does) into a WAL
database in a temporary folder on the disk given by ``--dir``, alternating FULL and NORMAL
round by round so that both see the same machine. Prints commits and rows per second per
mode and batch size (medians of the rounds).
"""

import argparse
import os
import sqlite3
import statistics
import tempfile
import time

ROW = ("x" * 160,)


def run(path: str, synchronous: str, batch: int, commits: int) -> float:
    """Seconds for ``commits`` transactions of ``batch`` rows each."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("CREATE TABLE IF NOT EXISTS visits (id INTEGER PRIMARY KEY, venue INTEGER, "
               "at REAL, sealed TEXT)")
    rows = [(i % 100, time.time(), *ROW) for i in range(batch)]
    start = time.perf_counter()
    for _ in range(commits):
        db.execute("BEGIN")
        db.executemany("INSERT INTO visits (venue, at, sealed) VALUES (?, ?, ?)", rows)
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--commits", type=int, default=400, help="transactions per measurement")
    parser.add_argument("--batches", default="1,20,200", help="rows per transaction")
    parser.add_argument("--dir", default=".", help="folder on the disk to measure")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    seconds: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        for _ in range(args.rounds):
            for batch in batches:
                for mode in ("NORMAL", "FULL"):
                    path = os.path.join(folder, f"{mode}.db")
                    seconds.setdefault((mode, batch), []).append(
                        run(path, mode, batch, args.commits))
    print(f"{'rows/commit':>11} {'mode':>6} {'commits/s':>10} {'rows/s':>10} {'FULL/NORMAL':>12}")
    for batch in batches:
        normal = statistics.median(seconds[("NORMAL", batch)])
        for mode in ("NORMAL", "FULL"):
            median = statistics.median(seconds[(mode, batch)])
            ratio = f"{normal / median:.2f}" if mode == "FULL" else ""
            print(f"{batch:>11} {mode:>6} {args.commits / median:>10.0f} "
                  f"{args.commits * batch / median:>10.0f} {ratio:>12}")


if __name__ == "__main__":
    main()
