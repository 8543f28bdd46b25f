"""Where a caller's access token is found: a bearer header, the pages' cookie or ``?token=``.

Who may do what with it is declared in ``accounts.permissions``.
"""

COOKIE = "occupancy_token"


def token_from(request_headers, cookies, query_params) -> str | None:
    auth = request_headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return cookies.get(COOKIE) or query_params.get("token")
