"""docker-compose.yml and `occupancy stack up` (occupancy/stack/) stay in step: the same hosts,
the same deploy/ files mounted where those files expect them, the same app settings. The stack
itself is run by tests/drills/test_stack.py; Docker cannot run here, so the compose file is read."""

import json
import re
from pathlib import Path

import yaml

from occupancy.stack import layout

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_compose_has_the_stacks_hosts_and_steps_and_nothing_else():
    assert set(SERVICES) == set(layout.HOSTS) | set(layout.STEPS) | set(layout.NOT_RUN)


def test_the_app_hosts_are_alike_and_get_the_stacks_settings():
    app_env = COMPOSE["x-app-env"]
    assert set(app_env) == set(layout.APP_ENV) | set(layout.PER_STACK_ENV)
    assert {k: app_env[k] for k in layout.APP_ENV} == layout.APP_ENV
    first, *others = layout.APP_HOSTS
    for host in others:
        assert SERVICES[host] == SERVICES[first]
    for service in (*layout.APP_HOSTS, "migrate", "metrics-token"):
        assert SERVICES[service]["environment"] == app_env, service


def test_the_same_config_files_are_mounted_where_they_are_read():
    for service, files in layout.CONFIG_FILES.items():
        volumes = SERVICES[service]["volumes"]
        for name, target in files:
            assert (layout.DEPLOY / name).is_file()
            assert f"./deploy/{name}:{target}:ro" in volumes, (service, volumes)
    # nginx reads tls/ beside its main nginx.conf; Prometheus reads tokens/ beside prometheus.yml.
    assert "tls:/etc/nginx/tls:ro" in SERVICES["nginx"]["volumes"]
    assert "metrics-token:/etc/prometheus/tokens:ro" in SERVICES["prometheus"]["volumes"]


def test_nginx_balances_over_the_app_hosts_on_the_published_ports():
    conf = (layout.DEPLOY / "nginx.conf").read_text()
    upstream = re.search(r"upstream occupancy \{(.*?)\}", conf, re.S)[1]
    servers = re.findall(r"^\s*server (\S+?)[ ;]", upstream, re.M)
    assert servers == [f"{host}:{layout.APP_PORT}" for host in layout.APP_HOSTS]
    assert re.findall(r"^\s*listen (\d+)", conf, re.M) == [str(layout.HTTP_PORT), str(layout.HTTPS_PORT)]
    assert f"https://$host:{layout.HTTPS_PORT}" in conf
    assert SERVICES["nginx"]["ports"] == [f"{layout.HTTP_PORT}:{layout.HTTP_PORT}",
                                          f"{layout.HTTPS_PORT}:{layout.HTTPS_PORT}"]
    assert re.search(r"location /metrics \{\s*deny all;", conf)
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "Upgrade", "Connection"):
        assert f"proxy_set_header {header} " in conf


def test_prometheus_scrapes_both_app_hosts_with_a_monitor_token():
    config = yaml.safe_load((layout.DEPLOY / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]  # beside it, as compose and the stack put it
    (job,) = config["scrape_configs"]
    assert job["authorization"] == {"type": "Bearer", "credentials_file": "tokens/metrics"}
    (targets,) = job["static_configs"]
    assert targets["targets"] == [f"{host}:{layout.APP_PORT}" for host in layout.APP_HOSTS]
    assert "monitor" in SERVICES["metrics-token"]["command"][-1]


def test_grafana_is_provisioned_with_the_dashboard_from_deploy():
    volumes = SERVICES["grafana"]["volumes"]
    provider = yaml.safe_load((layout.DEPLOY / "grafana-dashboards.yml").read_text())
    (folder,) = [v.split(":")[1] for v in volumes if v.startswith("./deploy/dashboards:")]
    assert provider["providers"][0]["options"]["path"] == folder
    assert ("./deploy/grafana-dashboards.yml:/etc/grafana/provisioning/dashboards/occupancy.yml:ro"
            in volumes)
    datasource = yaml.safe_load((layout.DEPLOY / "grafana-datasource.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    dashboard = json.loads((layout.DEPLOY / "dashboards" / "occupancy.json").read_text())
    assert dashboard["panels"]
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        assert all(t["datasource"]["uid"] == uid and t["expr"] for t in panel["targets"])


def test_nginx_sends_a_post_again_only_where_that_counts_once():
    """Check-ins (by idempotency key) and check-outs (by ticket) go to the other host if the first
    one died with the request; other POSTs, which may not be idempotent, never do."""
    conf = (layout.DEPLOY / "nginx.conf").read_text()
    retried = re.findall(r"location ~ (\S+) \{([^}]*)\}", conf)
    (pattern, block), = retried
    assert "proxy_next_upstream error timeout non_idempotent;" in block
    assert conf.count("non_idempotent") == 1
    again = re.compile(pattern)
    for path in ("/api/venues/grand-mall.abc/check-ins", "/api/check-outs",
                 "/api/tickets/7.abc/check-out", "/api/venues/7/door-check-outs",
                 "/api/venues/7/visits/by-code/3F9A-07C2/check-out"):
        assert again.match(path), path
    for path in ("/api/venues/7/screenings", "/api/venues/7", "/api/city/tracing",
                 "/api/venues/7/visits/by-code/3F9A-07C2/screening", "/api/venues/7/walk-ins",
                 "/api/venues/grand-mall.abc/check-ins/x"):
        assert not again.match(path), path
    # A check-in with no key of its own gets nginx's request id: the same on the retry.
    assert "proxy_set_header Idempotency-Key $idempotency_key;" in conf
    assert re.search(r'map \$http_idempotency_key \$idempotency_key \{[^}]*"" \$request_id;', conf)
