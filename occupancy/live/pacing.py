"""How often the frames of each venue, and of the city view, may go out of one process.

A target (a venue, or the city view) is sent at most ``rate`` times a second, so a quiet venue's
change goes out at once while a busy one's are folded together. Each frame costs a system call
per socket watching, so the process also keeps to ``budget`` frames a second, all sockets
together, shared max-min fairly: a target with W sockets here wants W x min(rate, its changes a
second) frames a second; those wanting less than an equal share get all they want, and the
others share the rest equally, their frames spaced further apart. Shares are worked out every
second from the changes of the second before, so a venue nobody changes takes no share. A token
bucket holds the budget in between (when the crowd arrives, say, before the shares catch up):
a flush sends what the tokens allow, targets with the fewest sockets first.
"""

import time
from collections import Counter

REBALANCE_SECONDS = 1.0
# However large the crowd, a target is sent at least this often (the budget may be exceeded).
LONGEST_INTERVAL = 5.0
BURST_SECONDS = 0.1  # the token bucket holds this many seconds of the budget
_NEVER = float("-inf")


def fair_level(demands: list[float], budget: float) -> float | None:
    """The most frames a second any one target may send so that all together send at most
    ``budget``, those wanting less keeping what they want; None when every demand fits."""
    if sum(demands) <= budget:
        return None
    left = budget
    ordered = sorted(demands)
    for i, demand in enumerate(ordered):
        share = left / (len(ordered) - i)
        if demand > share:
            return share
        left -= demand
    return None  # not reached: the demands exceed the budget


class Pacing:
    def __init__(self, rate: float, budget: float) -> None:
        if rate <= 0 or budget <= 0:
            raise ValueError("the live update rate and frame budget must be above 0")
        self.rate = rate
        self.least_interval = 1.0 / rate
        self.budget = budget
        self.watchers: dict = {}  # target -> its sockets in this process
        self._changes: Counter = Counter()  # watched target -> changes since the last rebalance
        self._window_start = time.monotonic()
        self._level: float | None = None  # frames a second a target may send; None: no limit
        self._sent_at: dict = {}  # target -> when its last frame went out (monotonic)
        self._prompt: set = set()  # targets whose next frame keeps only to the rate
        self._tokens = budget * BURST_SECONDS  # frames that may go out now
        self._filled_at = time.monotonic()

    def watch(self, target) -> None:
        self.watchers[target] = self.watchers.get(target, 0) + 1

    def unwatch(self, target) -> None:
        left = self.watchers.get(target, 0) - 1
        if left > 0:
            self.watchers[target] = left
        else:
            self.watchers.pop(target, None)
            self._prompt.discard(target)

    def sockets(self) -> int:
        return sum(self.watchers.values())

    def changed(self, target) -> None:
        if target in self.watchers:
            self._changes[target] += 1

    def prompt(self, target) -> None:
        """The next frame of ``target`` corrects a new socket's view: not held back by the budget."""
        self._prompt.add(target)

    def interval(self, target) -> float:
        if self._level is None or target in self._prompt:
            return self.least_interval
        wanted = self.watchers.get(target, 0) / self._level
        return min(LONGEST_INTERVAL, max(self.least_interval, wanted))

    def due_at(self, target) -> float:
        return self._sent_at.get(target, _NEVER) + self.interval(target)

    def take(self, due: list, now: float) -> list:
        """Of the targets due, those the bucket allows now (usually all of them); the others wait
        for a later flush. Each costs a frame per socket; one with more sockets than the bucket
        holds goes out when it is full, and the bucket owes the rest."""
        full = self.budget * BURST_SECONDS
        self._tokens = min(full, self._tokens + (now - self._filled_at) * self.budget)
        self._filled_at = now
        cost = sum(self.watchers.get(t, 0) for t in due)
        if cost <= self._tokens:
            self._tokens -= cost
            return due
        taken = []
        for target in sorted(due, key=lambda t: self.watchers.get(t, 0)):
            sockets = self.watchers.get(target, 0)
            if self._tokens < min(sockets, full):
                break
            self._tokens -= sockets
            taken.append(target)
        return taken

    def take_due(self, changed, now: float) -> list:
        """Of the ``changed`` targets, those that may be sent now; the others wait."""
        self.rebalance(now)
        return self.take([t for t in changed if self.due_at(t) <= now], now)

    def wait(self, changed, now: float) -> float | None:
        """Seconds until one of the ``changed`` targets may be sent; None: none changed."""
        due = [self.due_at(t) for t in changed]
        return max(0.0, min(due) - now) if due else None

    def sent(self, target, now: float) -> None:
        self._sent_at[target] = now
        self._prompt.discard(target)

    def rebalance(self, now: float) -> None:
        """Once a second: each target's share of the budget, from what it wanted last second."""
        seconds = now - self._window_start
        if seconds < REBALANCE_SECONDS:
            return
        demands = [self.watchers[t] * min(self.rate, n / seconds)
                   for t, n in self._changes.items() if t in self.watchers]
        self._level = fair_level(demands, self.budget)
        self._changes.clear()
        self._window_start = now
        # No interval is longer than LONGEST_INTERVAL: older send times hold nothing back.
        self._sent_at = {t: at for t, at in self._sent_at.items() if at > now - LONGEST_INTERVAL}
