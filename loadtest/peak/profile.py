"""Where a worker's time goes: py-spy samples it during a run; we sum the samples by function."""

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

# Buckets for the summary: the first pattern found in a stack (innermost frame first) wins.
BUCKETS = (
    ("SQL (journal, sqlalchemy, drivers)",
     ("sqlalchemy", "aiosqlite", "asyncpg", "sqlite3", "journal.py", "writes.py")),
    ("Redis client (redis-py, hiredis)", ("redis/", "hiredis", "scripts.py")),
    ("live fan-out (hub, outbox, frames)", ("occupancy/live/", "occupancy/stats/")),
    ("WebSockets (websockets, uvicorn ws)", ("websockets/", "websockets_impl", "wsproto")),
    ("JSON (msgspec, json)", ("msgspec", "json/")),
    ("metrics (prometheus_client)", ("prometheus_client", "metrics.py")),
    ("HTTP server (uvicorn, httptools)", ("uvicorn/protocols/http", "httptools")),
    ("framework (starlette, fastapi)", ("starlette/", "fastapi/")),
    ("check-in logic (occupancy)", ("occupancy/",)),
    ("event loop (uvloop, asyncio)", ("uvloop", "asyncio/")),
)

# Innermost frames that mean a thread is waiting, not working (py-spy cannot always tell).
IDLE = ("aiosqlite/core.py:59)", "threading.py", "queue.py", "selectors.py")


def py_spy() -> str:
    candidate = Path(sys.executable).parent / "py-spy"
    return str(candidate) if candidate.exists() else (shutil.which("py-spy") or "py-spy")


def start(pid: int, folder: Path, name: str, seconds: float) -> tuple[subprocess.Popen, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{name}.txt"
    command = [py_spy(), "record", "--pid", str(pid), "--duration", str(max(1, int(seconds) - 1)),
               "--rate", "200", "--format", "raw", "--nonblocking", "--output", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out


def finish(process: subprocess.Popen, out: Path) -> str:
    process.wait(timeout=60)
    if not out.exists():
        return f"profile: py-spy wrote nothing to {out} (ptrace not allowed?)"
    summary = summarize(out)
    out.with_suffix(".summary.txt").write_text(summary)
    return f"profile of one worker ({out.name}):\n{summary}"


def summarize(path: Path, top: int = 25) -> str:
    """Share of busy samples per bucket (the innermost matching frame), and the hottest functions.

    Samples whose innermost frame is a wait (a worker thread's queue) are left out. "event loop"
    is uvloop's own C code: dispatching callbacks and I/O, and waiting when there is nothing to do.
    """
    buckets: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if any(pattern in frames[-1] for pattern in IDLE):
            idle += n
            continue
        total += n
        own[frames[-1]] += n
        for frame in reversed(frames):
            bucket = next((name for name, patterns in BUCKETS if any(p in frame for p in patterns)), None)
            if bucket:
                buckets[bucket] += n
                break
        else:
            buckets["other (idle, interpreter)"] += n
    lines = [f"{total} busy samples (of {total + idle}; the rest were threads waiting)"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in buckets.most_common()]
    lines.append("hottest functions (own time):")
    lines += [f"  {n / total:6.1%}  {name[:150]}" for name, n in own.most_common(top)]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarize(Path(sys.argv[1])))
