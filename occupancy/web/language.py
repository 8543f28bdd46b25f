"""The reader's language: an explicit ``?lang=``, else the ``lang`` cookie, else Indonesian.

An explicit choice is remembered in the cookie for a year, on visitor and staff pages alike.
"""

from starlette.requests import Request
from starlette.responses import Response

LANGUAGES = ("id", "en")
DEFAULT = "id"
COOKIE = "lang"
_COOKIE_SECONDS = 365 * 24 * 3600


def choose(request: Request) -> str:
    for lang in (request.query_params.get("lang"), request.cookies.get(COOKIE)):
        if lang in LANGUAGES:
            return lang
    return DEFAULT


def remember(request: Request, response: Response) -> None:
    """Set the cookie when the address names a language the cookie does not hold yet."""
    requested = request.query_params.get("lang")
    if requested in LANGUAGES and request.cookies.get(COOKIE) != requested:
        response.set_cookie(COOKIE, requested, max_age=_COOKIE_SECONDS, samesite="lax")
