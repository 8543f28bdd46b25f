"""Request dependencies shared by the routes: the services, and the venue a signed code names.

Declared once as annotated types (``ServicesDep``, ``SignedVenue``) so that a route's signature
says what it needs; who may call a route is declared beside them, in ``accounts.permissions``.
The check-in and check-out routes resolve these same declarations in ``hot_routes``: keep them
``async def`` (FastAPI would run a plain ``def`` in a thread).
"""

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from occupancy.params import SignedCode
from occupancy.services import Services
from occupancy.venues import signing
from occupancy.venues.service import VenueInfo


async def get_services(conn: HTTPConnection) -> Services:
    """The services the app's lifespan started (HTTP routes and WebSockets alike)."""
    return conn.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


async def venue_by_signed_code(svc: Services, signed_code: str) -> VenueInfo:
    """The venue a signed code names (ForgedVenueCode, UnknownVenue otherwise)."""
    return await svc.venues.by_code(signing.verify(svc.settings.secret_keys, signed_code))


async def signed_venue(code: SignedCode, svc: ServicesDep) -> VenueInfo:
    return await venue_by_signed_code(svc, code)


# The venue named by the route's ``{code}``, as in the venue's QR code.
SignedVenue = Annotated[VenueInfo, Depends(signed_venue)]
