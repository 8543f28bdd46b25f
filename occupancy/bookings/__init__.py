"""Timed entry: a venue run by slots, booked in advance (issue 18)."""
