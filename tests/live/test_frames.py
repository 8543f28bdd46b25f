"""How updates not yet sent are folded together: nothing a dashboard shows may be lost."""

from occupancy.live.frames import merge_minutes, merge_recent, merge_venue_frames

M = 1_763_900_000 - 1_763_900_000 % 60  # a minute's start


def event(at: float, name: str = "in", party: int = 1) -> dict:
    return {"at": at, "event": name, "party": party}


def update(count: int, minutes: list, recent: list, minute: int) -> dict:
    return {"type": "update", "count": count, "capacity": 10, "level": "low", "paused": False,
            "today": {"entries": count, "per_minute": minutes}, "recent": recent,
            "point": [minute, count], "at": minute + 1.0}


def test_two_updates_become_one_with_every_new_event_and_minute():
    older = update(1, [[M - 60, 0, 0], [M, 1, 0]], [event(M + 1)], M)
    newer = update(3, [[M, 1, 0], [M + 60, 1, 0]], [event(M + 61, party=2)], M + 60)

    merged = merge_venue_frames(older, newer)

    assert merged["type"] == "update" and merged["count"] == 3 and merged["point"] == [M + 60, 3]
    assert merged["today"]["entries"] == 3
    assert merged["today"]["per_minute"] == [[M - 60, 0, 0], [M, 1, 0], [M + 60, 1, 0]]
    assert merged["recent"] == [event(M + 61, party=2), event(M + 1)]


def test_an_update_folded_into_a_waiting_snapshot_leaves_a_complete_snapshot():
    window = [[M - 60 * i, 0, 0] for i in range(59, -1, -1)]
    snapshot = {"type": "snapshot", "venue": {"id": 1}, "count": 0, "capacity": 10, "level": "low",
                "paused": False, "today": {"entries": 0, "per_minute": window},
                "recent": [event(M - 500, "out")], "series": [[M - 120, 2], [M - 60, 0]], "at": M + 1.0}

    merged = merge_venue_frames(snapshot, update(2, [[M + 60, 1, 0]], [event(M + 61, party=2)], M + 60))

    assert merged["type"] == "snapshot" and merged["venue"] == {"id": 1} and "point" not in merged
    assert len(merged["today"]["per_minute"]) == 60
    assert merged["today"]["per_minute"][-1] == [M + 60, 1, 0]
    assert merged["today"]["per_minute"][0] == [M - 58 * 60, 0, 0]
    assert merged["series"] == [[M - 120, 2], [M - 60, 0], [M, 0], [M + 60, 2]]
    assert merged["recent"] == [event(M + 61, party=2), event(M - 500, "out")]


def test_a_newer_snapshot_replaces_what_waits():
    snapshot = {"type": "snapshot", "count": 5}
    assert merge_venue_frames(update(1, [], [], M), snapshot) is snapshot


def test_an_event_both_in_the_snapshot_and_the_next_update_is_kept_once():
    same = event(M + 1.25, "in", 3)
    assert merge_recent([event(M + 2), dict(same)], [same, event(M)]) == [event(M + 2), same, event(M)]
    assert len(merge_recent([event(M + i) for i in range(15)], [event(M - i) for i in range(1, 15)])) == 20


def test_minutes_fill_the_window_with_zeros():
    merged = merge_minutes([[M - 3600, 4, 4]], [[M, 1, 0]], 60)
    assert len(merged) == 60 and merged[-1] == [M, 1, 0] and merged[0] == [M - 59 * 60, 0, 0]
    assert merge_minutes([], [], 60) == []


def test_a_bookings_notice_survives_the_folding_of_updates():
    """A dashboard that read slowly still learns its venue's bookings changed."""
    noticed = update(1, [[M, 1, 0]], [], M) | {"bookings_changed": True}
    later = update(2, [[M, 2, 0]], [event(M + 2)], M)
    assert merge_venue_frames(noticed, later)["bookings_changed"] is True
    assert merge_venue_frames(later, noticed)["bookings_changed"] is True
    assert "bookings_changed" not in merge_venue_frames(later, update(3, [[M, 3, 0]], [], M))
