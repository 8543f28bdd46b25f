"""deploy/alerts.yml: valid rules, each alert raised by the series it is about and quiet on a
healthy service (tests/alerts.promtool.yml, run by Prometheus's own `promtool test rules`), and
every metric they read is one the service exports. The stack drill (tests/drills/test_stack.py)
checks that the real Prometheus loads them."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

import occupancy.kit.periodic  # noqa: F401  (its metrics, registered on import)
import occupancy.metrics  # noqa: F401
from occupancy.stack.layout import DEPLOY

ALERTS = DEPLOY / "alerts.yml"
UNIT_TESTS = Path(__file__).parent / "alerts.promtool.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None,
                                    reason="promtool is not installed (Debian: prometheus)")


@needs_promtool
def test_the_rules_are_valid():
    done = subprocess.run([PROMTOOL, "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_each_alert_fires_on_its_fault_and_not_otherwise():
    done = subprocess.run([PROMTOOL, "test", "rules", str(UNIT_TESTS)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"]
            for rule in group["rules"]]


def test_every_alert_is_unit_tested():
    tested = {case["alertname"] for test in yaml.safe_load(UNIT_TESTS.read_text())["tests"]
              for case in test["alert_rule_test"]}
    assert tested == {rule["alert"] for rule in alert_rules()}


def test_the_alerts_read_only_metrics_the_service_exports():
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    exported = {family.name + suffix for family in REGISTRY.collect()
                for suffix in suffixes.get(family.type, ())}
    used = {name for rule in alert_rules() for name in re.findall(r"\boccupancy_\w+", rule["expr"])}
    assert used and used <= exported, used - exported
    for rule in alert_rules():
        assert rule["labels"]["severity"] in ("page", "ticket") and rule["annotations"]["summary"]
