"""Debian's Chromium, as the browser tests launch it, and where their screenshots go."""

import re

from tests.conftest import ARTIFACTS

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling out into a closed network.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def artifact(name: str) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png")
