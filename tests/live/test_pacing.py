"""Pacing: the frame budget of a process shared max-min fairly among the targets that change."""

import time

import pytest

from occupancy.live.pacing import LONGEST_INTERVAL, Pacing, fair_level


def test_the_fair_level_gives_small_demands_what_they_want_and_shares_the_rest():
    assert fair_level([1, 2, 3], budget=8) is None  # everyone fits
    assert fair_level([10, 10], budget=8) == 4
    assert fair_level([1, 1, 20], budget=8) == 6  # the two small ones keep their 1 each
    assert fair_level([3, 20, 20], budget=8) == pytest.approx(8 / 3)  # 3 > 8/3: all share


def rebalanced(pacing: Pacing, changes: dict) -> Pacing:
    for target, n in changes.items():
        for _ in range(n):
            pacing.changed(target)
    # Exactly one second after the window opened, however long the set-up took on a busy machine.
    pacing.rebalance(pacing._window_start + 1.0)
    return pacing


def watched(rate: float, budget: float, watchers: dict) -> Pacing:
    pacing = Pacing(rate, budget)
    for target, n in watchers.items():
        for _ in range(n):
            pacing.watch(target)
    return pacing


def test_quiet_venues_take_no_share_from_a_crowded_busy_one():
    """3,000 door displays of venues with nothing happening, and a stadium 500 dashboards watch."""
    pacing = watched(5, 2500, {"stadium": 500, **{f"display{i}": 1 for i in range(3000)}})
    rebalanced(pacing, {"stadium": 50, "display7": 1})

    # The stadium wants 500 x 5 frames a second, the one changed display 1: 2,499 are left.
    assert pacing.interval("stadium") == pytest.approx(500 / 2499)
    assert pacing.interval("display7") == pytest.approx(0.2)
    assert pacing.interval("display8") == pytest.approx(0.2)


def test_past_the_budget_the_crowded_venues_share_it_and_small_ones_keep_the_rate():
    pacing = watched(5, 2500, {**{f"mall{i}": 50 for i in range(100)}, "shop": 2})
    rebalanced(pacing, {**{f"mall{i}": 20 for i in range(100)}, "shop": 20})

    # 100 x 50 x 5 = 25,000 wanted: each mall gets (2,500 - 10) / 100 frames a second.
    assert pacing.interval("mall3") == pytest.approx(50 / 24.9)
    assert pacing.interval("shop") == pytest.approx(0.2)
    assert 100 * 50 / pacing.interval("mall3") + 2 / pacing.interval("shop") == pytest.approx(2500)


def test_a_target_is_sent_at_least_every_few_seconds_and_a_prompt_frame_is_not_held_back():
    pacing = watched(5, 100, {"arena": 10_000})
    rebalanced(pacing, {"arena": 10})
    assert pacing.interval("arena") == LONGEST_INTERVAL  # 100 s by the budget alone

    pacing.sent("arena", now=50.0)
    pacing.prompt("arena")  # a new socket's view needs correcting
    assert pacing.due_at("arena") == pytest.approx(50.2)
    pacing.sent("arena", now=50.2)
    assert pacing.due_at("arena") == pytest.approx(50.2 + LONGEST_INTERVAL)


def test_below_the_budget_every_target_keeps_the_rate_and_watchers_are_counted():
    pacing = watched(5, 2500, {"a": 3, "b": 1})
    pacing.unwatch("a")
    pacing.unwatch("b")
    pacing.unwatch("b")  # once too often: no harm
    assert pacing.watchers == {"a": 2} and pacing.sockets() == 2
    rebalanced(pacing, {"a": 100, "b": 100})
    assert pacing.interval("a") == pytest.approx(0.2)


def test_a_rate_or_budget_of_zero_is_refused():
    with pytest.raises(ValueError):
        Pacing(5, 0)


def test_the_bucket_lets_out_the_smallest_targets_first_and_one_bigger_than_it_when_full():
    pacing = watched(5, 1000, {"small": 2, "mid": 40, "big": 80, "huge": 500})
    now = time.monotonic() + 10  # long idle: the bucket is full, 100 frames (0.1 s of budget)

    assert pacing.take(["big", "small", "mid"], now) == ["small", "mid"]  # 42 of 100; 80 waits
    assert pacing.take(["big"], now + 0.02) == []  # 58 + 20 = 78 tokens
    assert pacing.take(["big"], now + 0.03) == ["big"]  # 88, then 8 left
    assert pacing.take(["huge"], now + 0.03) == []
    assert pacing.take(["huge"], now + 0.5) == ["huge"]  # full again: it goes, the bucket owes 400
    assert pacing.take(["small"], now + 0.6) == []  # still owing
    assert pacing.take(["small"], now + 0.95) == ["small"]  # -400 + 450 tokens
