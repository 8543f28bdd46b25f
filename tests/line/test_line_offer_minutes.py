"""A venue's own time to claim an offer (1 to 30 minutes; the service's default otherwise): set by
its manager through the API or the command line, used by the offers made from then on, kept in
SQL across a Redis that lost its state; bad input is refused and changes nothing. On a single
Redis and a cluster, SQLite and PostgreSQL (the command line: the README's embedded default)."""

from tests.line.test_line import check_out, full_venue, join, status
from tests.redis_kinds import redis_kind  # noqa: F401
from tests.test_cli import cli


async def offer_minutes(client, venue_id: int, headers, minutes):
    return await client.put(f"/api/venues/{venue_id}/line/offer-minutes",
                            json={"offer_minutes": minutes}, headers=headers)


async def test_a_manager_sets_the_venues_offer_time_and_the_next_offers_last_that_long(
    client, services, make_venue, issue_token
):
    venue, signed, tickets = await full_venue(client, make_venue, capacity=1)
    other, other_signed, other_tickets = await full_venue(client, make_venue, capacity=1)
    manager = await issue_token("manager", venue.id)
    line = await client.get(f"/api/venues/{venue.id}/line", headers=manager)
    assert (line.json()["offer_minutes"], line.json()["offer_minutes_own"]) == (5, False)

    changed = await offer_minutes(client, venue.id, manager, 2)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["offer_minutes"], changed.json()["offer_minutes_own"]) == (2, True)
    for bad in (0, 31, 2.5, "ten", True):
        refused = await offer_minutes(client, venue.id, manager, bad)
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["error"]["code"] == "invalid_input"
        assert refused.json()["error"]["message"]
    for who in (await issue_token("staff", venue.id), await issue_token("manager", other.id), {}):
        assert (await offer_minutes(client, venue.id, who, 3)).status_code in (401, 403)
    assert (await client.get(f"/api/venues/{venue.id}/line",
                             headers=manager)).json()["offer_minutes"] == 2

    # The offers made now: two minutes here, the default five at the other venue.
    head, other_head = await join(client, signed), await join(client, other_signed)
    await check_out(client, tickets[0])
    await check_out(client, other_tickets[0])
    await services.line.advance(venue.id)
    await services.line.advance(other.id)
    left = (await status(client, head["line"]))["offer_seconds_left"]
    assert 60 < left <= 120, left
    assert 240 < (await status(client, other_head["line"]))["offer_seconds_left"] <= 300

    # Kept in SQL: Redis loses its state and the line comes back with it.
    await services.redis.flushall()
    await services.rebuilder.ensure(wait=30)
    line = await client.get(f"/api/venues/{venue.id}/line", headers=manager)
    assert line.status_code == 200, line.text
    assert line.json()["offer_minutes"] == 2
    back = await offer_minutes(client, venue.id, manager, None)
    assert (back.json()["offer_minutes"], back.json()["offer_minutes_own"]) == (5, False)


def test_the_offer_time_from_the_command_line(tmp_path):
    cli(tmp_path, "db", "upgrade")
    cli(tmp_path, "venue", "add", "pasar-baru", "Pasar Baru", "40", "--category", "market")
    shown = cli(tmp_path, "venue", "line", "show", "pasar-baru").stdout
    assert "offers last 5 minutes (the default)" in shown
    set_ = cli(tmp_path, "venue", "line", "offer-minutes", "pasar-baru", "12").stdout
    assert set_ == "pasar-baru: 0 parties waiting, 0 places offered; offers last 12 minutes\n"
    assert cli(tmp_path, "venue", "line", "show", "pasar-baru").stdout == set_
    for bad in ("31", "0"):
        refused = cli(tmp_path, "venue", "line", "offer-minutes", "pasar-baru", bad, ok=False)
        assert "1 to 30 minutes" in refused.stderr and "Traceback" not in refused.stderr
    words = cli(tmp_path, "venue", "line", "offer-minutes", "pasar-baru", "soon", ok=False)
    assert "whole number of minutes" in words.stderr
    assert cli(tmp_path, "venue", "line", "show", "pasar-baru").stdout == set_
    again = cli(tmp_path, "venue", "line", "offer-minutes", "pasar-baru", "default").stdout
    assert "offers last 5 minutes (the default)" in again
