"""Stall watch for benchmark servers (``python -m loadtest.peak.bench --stalls DIR``), loaded by every
Python process that has this folder on its PYTHONPATH (the bench sets it for the server only).

A thread samples the main thread's stack every 2 ms. While one task step (the same outermost
frame under asyncio's runner) stays on the stack longer than OCCUPANCY_STALL_MS (40 ms), the
event loop serves nobody else: the stack is written once to DIR/stalls-<pid>.txt, then how long
the step lasted. A task that yields often but only for an instant (``sleep(0)``) can look like
one long step: the loop-lag histogram of ``/metrics`` tells the two apart. Not for production:
the thread takes the GIL 500 times a second.
"""

import os
import sys
import threading
import time
import traceback


def _task_step(frame) -> tuple | None:
    """The outermost frame above asyncio's own (the running task's), or None when none runs."""
    chain = []
    while frame is not None:
        chain.append(frame)
        frame = frame.f_back
    chain.reverse()
    last = max((i for i, f in enumerate(chain) if "asyncio" in f.f_code.co_filename), default=None)
    if last is None or last + 1 >= len(chain):
        return None
    step = chain[last + 1]
    if step.f_code.co_filename.endswith("selectors.py"):
        return None  # asyncio's own loop waiting for I/O (uvloop waits in C, with no frame)
    return id(step), step.f_code


def _watch(folder: str, threshold: float) -> None:
    main = threading.main_thread().ident
    with open(os.path.join(folder, f"stalls-{os.getpid()}.txt"), "a", buffering=1) as out:
        current, since, reported = None, 0.0, False
        while True:
            time.sleep(0.002)
            frame = sys._current_frames().get(main)
            step = _task_step(frame) if frame is not None else None
            now = time.monotonic()
            if step != current:
                if reported:
                    out.write(f"--- ended after {1000 * (now - since):.0f} ms\n")
                current, since, reported = step, now, False
            elif step is not None and not reported and now - since > threshold:
                reported = True
                out.write(f"=== {time.strftime('%H:%M:%S')} pid {os.getpid()}\n")
                out.write("".join(traceback.format_stack(frame)))


if folder := os.environ.get("OCCUPANCY_STALL_WATCH"):
    os.makedirs(folder, exist_ok=True)
    threshold = float(os.environ.get("OCCUPANCY_STALL_MS", "40")) / 1000
    threading.Thread(target=_watch, args=(folder, threshold), daemon=True, name="stall-watch").start()
