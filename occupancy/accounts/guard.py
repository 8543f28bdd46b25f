"""Where a caller's access token is found: a bearer header or the pages' cookie.

Never the query string: URLs end up in balancer and proxy logs, so a token there would leak.
Who may do what with it is declared in ``accounts.permissions``.
"""

COOKIE = "occupancy_token"


def token_from(request_headers, cookies) -> str | None:
    auth = request_headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return cookies.get(COOKIE)
