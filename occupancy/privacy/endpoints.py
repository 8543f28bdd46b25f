"""Contact tracing for health officials, and its audit log. The private key travels in the body of
a POST (never in a URL that a proxy logs) and is used for that one query only."""

from datetime import date

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from occupancy.accounts.permissions import AuditReader, HealthOfficial
from occupancy.accounts.service import Principal
from occupancy.deps import ServicesDep
from occupancy.kit.downloads import csv_response
from occupancy.kit.http import json_response
from occupancy.privacy.tracing import Question, Trace, TracedVisit, audit_log, check_audit_chain

router = APIRouter(prefix="/api/city/tracing", tags=["contact tracing"])
# Personal data: no cache anywhere may keep the answer.
_NO_STORE = {"Cache-Control": "no-store"}
CSV_COLUMNS = ("role", "venue", "checked_in_at", "checked_out_at", "party_size", "overlap_minutes",
               "name", "phone", "email")


class TracingBody(BaseModel):
    phone: str | None = Field(None, max_length=30, description="the case's phone number")
    ticket: str | None = Field(None, max_length=80, description="or a ticket of the case")
    start: date
    end: date
    private_key: str = Field(max_length=1000, description="the health office's private key "
                             "(base64), used for this query only and kept nowhere; after a key "
                             "rotation, its keys one per line (the new one and those it replaced)")


async def _trace(svc, body: TracingBody, who: Principal) -> Trace:
    question = Question(body.start, body.end, phone=body.phone, ticket=body.ticket)
    return await svc.tracer.trace(question, body.private_key, asked_by=f"{who.role}:{who.label}")


@router.post("", summary="A case's visits and the people whose stays overlapped them")
async def trace(body: TracingBody, svc: ServicesDep, who: HealthOfficial) -> Response:
    found = await _trace(svc, body, who)
    return json_response({
        "cases": [_visit(v) for v in found.cases],
        "contacts": [{**_visit(c.visit), "case_visit_id": c.case_visit_id,
                      "overlap_minutes": c.overlap_minutes} for c in found.contacts],
        "people_revealed": found.people_revealed(),
    }, headers=_NO_STORE)


@router.post(".csv", summary="The same, as CSV")
async def trace_csv(body: TracingBody, svc: ServicesDep, who: HealthOfficial) -> Response:
    found = await _trace(svc, body, who)
    rows = [{**_row(v), "role": "case"} for v in found.cases]
    rows += [{**_row(c.visit), "role": "contact", "overlap_minutes": c.overlap_minutes}
             for c in found.contacts]
    response = csv_response(rows, CSV_COLUMNS, f"tracing-{body.start}-{body.end}.csv")
    response.headers.update(_NO_STORE)
    return response


@router.get("/audit", summary="Every tracing query: who, when, what, how many people revealed")
async def audit(svc: ServicesDep, _: AuditReader) -> Response:
    records = await audit_log(svc.sessionmaker)
    return json_response([{"id": r.id, "at": r.at.isoformat(), "asked_by": r.asked_by,
                           "question": r.question, "cases": r.cases, "revealed": r.revealed,
                           "outcome": r.outcome} for r in records])


@router.get("/audit/chain", summary="Whether every audit record follows from the one before "
            "(the hash chain); the head digest to note down elsewhere")
async def audit_chain(svc: ServicesDep, _: AuditReader) -> Response:
    check = await check_audit_chain(svc.sessionmaker)
    return json_response({"intact": check.intact, "records": check.records, "head": check.head,
                          "broken_at": check.broken_at})


def _visit(v: TracedVisit) -> dict:
    person = v.person
    return {"visit_id": v.visit_id, "venue": {"id": v.venue_id, "name": v.venue_name},
            "checked_in_at": v.checked_in_at.isoformat(),
            "checked_out_at": v.checked_out_at.isoformat() if v.checked_out_at else None,
            "party_size": v.party_size,
            "person": None if person is None else
            {"name": person.name, "phone": person.phone, "email": person.email}}


def _row(v: TracedVisit) -> dict:
    person = v.person
    return {"venue": v.venue_name, "checked_in_at": v.checked_in_at.isoformat(),
            "checked_out_at": v.checked_out_at.isoformat() if v.checked_out_at else "",
            "party_size": v.party_size, "overlap_minutes": "",
            "name": person.name if person else "(purged)", "phone": person.phone if person else "",
            "email": (person.email or "") if person else ""}
