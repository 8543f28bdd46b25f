"""Fault drills against ``occupancy serve --workers 2``: real Redis, real SQL, real signals.

``tests/drills`` runs the short versions; ``python -m loadtest.drills --long`` the long ones
(see docs/reliability.md).
"""
