"""The peak harness: wrk against `occupancy serve`, dashboards, invariants, report."""
