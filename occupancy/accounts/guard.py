"""Who may: FastAPI dependencies that turn a bearer token (or the page cookie) into a Principal."""

from fastapi import Request

from occupancy.accounts.service import Principal
from occupancy.errors import Unauthorized

COOKIE = "occupancy_token"


def token_from(request_headers, cookies, query_params) -> str | None:
    auth = request_headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return cookies.get(COOKIE) or query_params.get("token")


async def principal_or_none(request: Request) -> Principal | None:
    token = token_from(request.headers, request.cookies, {})
    if not token:
        return None
    return await request.app.state.services.tokens.principal(token)


async def require_principal(request: Request) -> Principal:
    principal = await principal_or_none(request)
    if principal is None:
        raise Unauthorized()
    return principal
