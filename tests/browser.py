"""Debian's Chromium, as the browser tests launch it, and where their screenshots go."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.conftest import ARTIFACTS

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling out into a closed network.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def browser_zone(city: str) -> str:
    """A browser time zone 11 hours or more from the city's (settings.timezone), so that a page
    taking its days or hours from the browser instead of from the city shows it most of the day."""
    return "Pacific/Pago_Pago" if datetime.now(ZoneInfo(city)).utcoffset() >= timedelta(0) \
        else "Pacific/Kiritimati"


def city_clock(at: str | float, city: str) -> re.Pattern:
    """The city's hour and minute at ``at`` (ISO or epoch seconds) as a page shows them, in
    Indonesian (19.05) or English (19:05)."""
    when = datetime.fromisoformat(at) if isinstance(at, str) else datetime.fromtimestamp(at, ZoneInfo(city))
    local = when.astimezone(ZoneInfo(city))
    return re.compile(rf"\b{local:%H}[.:]{local:%M}\b")


def artifact(name: str) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png")
