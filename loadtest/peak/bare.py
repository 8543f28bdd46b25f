"""The yardstick: a bare FastAPI app taking the check-in's request body, and nothing else.

    python -m loadtest.peak.bare --port 8001 --workers 2

Served by the service's own uvicorn options and workers (``occupancy.serving``), it answers the
check-in and check-out paths the way wrk_checkins.lua expects (201 with a ticket, 200 with
``checked_out_at``), with FastAPI's plain machinery: a pydantic model with the check-in body's
fields, validated, and a dict answer. No Redis, no SQL: what a check-in costs beyond FastAPI's
own request handling is the service's figure divided by this one's.
"""

import argparse
import itertools
import os
from datetime import UTC, datetime

import msgspec
from fastapi import FastAPI
from pydantic import create_model

from occupancy import serving
from occupancy.visits.schemas import CheckInBody


def pydantic_twin(struct: type[msgspec.Struct]):
    """A pydantic model with the fields (names, types, defaults) of a msgspec body."""
    fields = {
        field.name: (field.type, ... if field.required else field.default)
        for field in msgspec.structs.fields(struct)
    }
    return create_model(f"Bare{struct.__name__}", **fields)


BareCheckIn = pydantic_twin(CheckInBody)
app = FastAPI(title="bare check-in (benchmark yardstick)")
_visits = itertools.count()


@app.post("/api/venues/{code}/check-ins", status_code=201)
async def check_in(code: str, body: BareCheckIn) -> dict:
    visit_id = f"bare-{os.getpid()}-{next(_visits)}"
    return {"visit_id": visit_id, "ticket": f"{visit_id}-ticket", "venue": code,
            "party_size": body.party_size, "checked_in_at": datetime.now(UTC).isoformat()}


@app.post("/api/tickets/{ticket}/check-out")
async def check_out(ticket: str) -> dict:
    return {"visit_id": ticket.removesuffix("-ticket"),
            "checked_out_at": datetime.now(UTC).isoformat()}


@app.get("/healthz")
async def healthz() -> dict:
    return {"ok": True}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    serving.run("loadtest.peak.bare:app", host=args.host, port=args.port, workers=args.workers,
                **serving.UVICORN_OPTIONS)


if __name__ == "__main__":
    main()
