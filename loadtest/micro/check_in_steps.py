"""CPU of single steps of a check-in in the event loop, each before and after a change,
alternating in one process (so machine noise hits both alike).

    uv run python -m loadtest.micro.check_in_steps

Each figure is the median of ``--repeats`` timings of ``--calls`` calls, in microseconds per call.
"""

import argparse
import statistics
import time
from dataclasses import dataclass

import msgspec
from starlette.responses import Response

from occupancy.kit.http import json_response
from occupancy.visits.capacity import LiveVisit, _text

VISIT_ID = "0193a8c2f1e04c5d8e9f0a1b2c3d4e5f"


def answered_by_starlette(content: object, status_code: int = 200) -> Response:
    """A JSON answer before: starlette's Response from the encoded body."""
    return Response(msgspec.json.encode(content), status_code=status_code,
                    media_type="application/json")


ANSWER = {"ticket": "7.q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6", "short_code": "3F9A-07C2",
          "visit_id": VISIT_ID, "venue": {"code": "grand-mall", "name": "Grand Mall"},
          "party_size": 2, "checked_in_at": "2026-12-07T03:58:00.123456+00:00", "open": True,
          "replayed": False, "occupancy": {"count": 57, "capacity": 2000}}


@dataclass(frozen=True, slots=True)
class LiveVisitDataclass:
    """A script's reply as decoded before: a frozen dataclass."""

    status: str
    count: int
    capacity: int
    visit_id: str | None = None
    party_size: int | None = None
    checked_in_at: float | None = None
    state: str | None = None
    checked_out_at: float | None = None

    @classmethod
    def from_reply(cls, reply: list) -> "LiveVisitDataclass":
        status, count, capacity, *rest = (*reply, *[None] * (8 - len(reply)))
        visit_id, party, at, state, out = rest[:5]
        return cls(
            status=_text(status), count=int(count), capacity=int(capacity or 0),
            visit_id=_text(visit_id), party_size=int(party) if party is not None else None,
            checked_in_at=float(at) if at is not None else None, state=_text(state),
            checked_out_at=float(out) if out is not None else None,
        )


# A check-in script's reply: ok, count, capacity, visit id, party, checked in at, state.
REPLY = [b"ok", 57, b"2000", VISIT_ID.encode(), b"2", b"1796614682.0302505", b"open"]


def pairs() -> dict[str, tuple]:
    """(before, after) callables of each step, each taking no argument."""
    return {
        "check-in answer": (lambda: answered_by_starlette(ANSWER, 201),
                            lambda: json_response(ANSWER, 201)),
        "script reply decoded": (lambda: LiveVisitDataclass.from_reply(REPLY),
                                 lambda: LiveVisit.from_reply(REPLY)),
    }


def check() -> None:
    """Each change gives what it gave before."""
    for reply in (REPLY, REPLY[:3], [b"closing", 3, 10, VISIT_ID.encode(), 2, b"1.5", b"visitor", b"2.5"]):
        old, new = LiveVisitDataclass.from_reply(reply), LiveVisit.from_reply(reply)
        assert [getattr(old, f) for f in old.__slots__] == [getattr(new, f) for f in old.__slots__]
    before, after = answered_by_starlette(ANSWER, 201), json_response(ANSWER, 201)
    assert (before.status_code, before.body, before.raw_headers) == (
        after.status_code, after.body, after.raw_headers)


def per_call(function, calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        function()
    return (time.process_time() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    check()
    for name, (before, after) in pairs().items():
        figures: tuple[list[float], list[float]] = ([], [])
        for _ in range(args.repeats):
            for figure, function in zip(figures, (before, after), strict=True):
                figure.append(per_call(function, args.calls))
        b, a = (statistics.median(f) for f in figures)
        print(f"{name:<24} before {b:6.2f} us   after {a:6.2f} us   ({a / b:.2f}x)")


if __name__ == "__main__":
    main()
