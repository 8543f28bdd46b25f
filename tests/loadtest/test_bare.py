"""The bare endpoint the benchmark compares the check-in with: the check-in's body, validated
by FastAPI, and answers wrk_checkins.lua understands."""

import httpx
import msgspec

from loadtest.peak.bare import BareCheckIn, app
from occupancy.visits.schemas import CheckInBody


def test_the_bare_body_has_the_check_in_bodys_fields():
    fields = {f.name: (f.type, f.required) for f in msgspec.structs.fields(CheckInBody)}
    assert {name: (info.annotation, info.is_required())
            for name, info in BareCheckIn.model_fields.items()} == fields


async def test_the_bare_endpoint_answers_check_ins_and_check_outs_as_the_service_does():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bare") as client:
        answer = await client.post("/api/venues/any-code/check-ins",
                                   json={"name": "Budi", "phone": "081200000000", "party_size": 2})
        assert answer.status_code == 201
        visit = answer.json()
        assert visit["party_size"] == 2 and visit["ticket"] and visit["visit_id"]

        out = await client.post(f"/api/tickets/{visit['ticket']}/check-out")
        assert out.status_code == 200
        assert out.json()["visit_id"] == visit["visit_id"] and "checked_out_at" in out.json()

        refused = await client.post("/api/venues/any-code/check-ins",
                                    json={"name": "Budi", "phone": "081200000000", "party_size": "two"})
        assert refused.status_code == 422  # FastAPI validates the body: the party is no number
