"""What held the server's event loops (``bench.py --stalls DIR``): the stall watch's files, summed
by the innermost frame of the service's own code (or of a library, where none is ours)."""

import re
import sys
from collections import defaultdict
from pathlib import Path

WATCH_DIR = Path(__file__).resolve().parent / "stallwatch"  # goes on the server's PYTHONPATH
# Stacks with these are a process starting (imports, migrations, the first venue read).
_START_UP = ("importlib", "lifespan", "/occupancy/cli/")
_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


def stalls(folder: Path) -> list[tuple[str, int, bool]]:
    """(where, milliseconds, during start-up) of each stall in the files of ``folder``."""
    found = []
    for path in sorted(folder.glob("stalls-*.txt")):
        for block in path.read_text().split("=== ")[1:]:
            lasted = re.search(r"--- ended after (\d+) ms", block)
            frames = _FRAME.findall(block)
            ours = [f for f in frames if "/occupancy/" in f[0]]
            file, line, name = (ours or frames or [("?", "0", "?")])[-1]
            where = f"{name} ({file.split('/occupancy/')[-1].split('site-packages/')[-1]}:{line})"
            found.append((where, int(lasted[1]) if lasted else -1,
                          any(mark in block for mark in _START_UP)))
    return found


def summarize(folder: Path) -> str:
    serving = defaultdict(list)
    starting = 0
    for where, ms, start_up in stalls(folder):
        if start_up:
            starting += 1
        else:
            serving[where].append(ms)
    lines = [f"event-loop stalls over the threshold while serving: {sum(map(len, serving.values()))}"
             f" (and {starting} while starting up); files in {folder}"]
    for where, lasted in sorted(serving.items(), key=lambda item: -sum(item[1])):
        lines.append(f"  {len(lasted):4d} x, longest {max(lasted):5d} ms  {where}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarize(Path(sys.argv[1])))
