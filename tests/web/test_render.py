"""What every HTML page sends, visitor and staff alike: security headers, the language cookie."""

import pytest

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

pytestmark = pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)


async def test_visitor_and_staff_pages_send_their_security_headers(client, make_venue):
    _, code = await make_venue()
    for path, cache, referrer in ((f"/v/{code}", "no-cache", "no-referrer"),
                                  ("/", "no-cache", "no-referrer"),
                                  ("/login", "no-store", "same-origin"),
                                  (f"/display/{code}", "no-store", "same-origin")):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-security-policy"] == CSP, path
        assert (page.headers["cache-control"], page.headers["referrer-policy"]) == (cache, referrer)
        assert page.headers["x-content-type-options"] == "nosniff"


async def test_an_explicit_language_is_remembered_once_on_every_kind_of_page(client, make_venue):
    _, code = await make_venue()
    for path in (f"/v/{code}", "/login"):
        client.cookies.clear()
        chosen = await client.get(path, params={"lang": "en"})
        assert '<html lang="en">' in chosen.text
        assert chosen.headers["set-cookie"] == "lang=en; Max-Age=31536000; Path=/; SameSite=lax"
        again = await client.get(path)  # the cookie chooses now; nothing new to remember
        assert '<html lang="en">' in again.text and "set-cookie" not in again.headers
        unknown = await client.get(path, params={"lang": "fr"})
        assert '<html lang="en">' in unknown.text and "set-cookie" not in unknown.headers
