"""What the stack runs, named as docker-compose.yml names it (tests/test_deploy.py keeps the two
in step): its hosts, their addresses, the config files they read and the apps' settings."""

from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"

# Each host's address is <subnet>.<number>; the machine itself is <subnet>.1 on the bridge.
HOSTS = {"nginx": 10, "app-a": 11, "app-b": 12, "redis": 20, "postgres": 30, "prometheus": 40}
APP_HOSTS = ("app-a", "app-b")

# Services of docker-compose.yml that the stack runs as one-off steps, and those it does not run.
STEPS = ("migrate", "metrics-token", "tls-cert")
NOT_RUN = {"grafana": "not installed here; the stack test runs its dashboard's queries against "
                      "the stack's Prometheus instead"}

# Each config file of deploy/, and where the compose service mounts it.
CONFIG_FILES = {
    "nginx": [("nginx.conf", "/etc/nginx/conf.d/default.conf")],
    "prometheus": [("prometheus.yml", "/etc/prometheus/prometheus.yml"),
                   ("alerts.yml", "/etc/prometheus/alerts.yml")],
}

APP_PORT = 8000
HTTP_PORT, HTTPS_PORT = 8080, 8443
PROMETHEUS_PORT = 9090
REDIS_FIRST_PORT = 6379  # the cluster's six nodes on 6379-6384 of the redis host
POSTGRES_PORT = 5432

# The apps' settings as docker-compose.yml gives them (x-app-env)...
APP_ENV = {
    "OCCUPANCY_DATABASE_URL":
        f"postgresql+asyncpg://occupancy:occupancy@postgres:{POSTGRES_PORT}/occupancy",
    # Any one node of the cluster (detected at start); compose runs a single Redis there.
    "OCCUPANCY_REDIS_URL": f"redis://redis:{REDIS_FIRST_PORT}/0",
    # Only nginx reaches the app hosts: believe its X-Forwarded-For.
    "OCCUPANCY_TRUSTED_PROXIES": "*",
}
# ... and those each stack sets for itself (secrets made at start, its own public address).
PER_STACK_ENV = ("OCCUPANCY_SECRET_KEY", "OCCUPANCY_HEALTH_OFFICE_PUBLIC_KEY",
                 "OCCUPANCY_PUBLIC_URL")
