"""The locust scenarios (run with `locust -f loadtest/locust/locustfile.py`)."""
