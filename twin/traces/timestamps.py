"""Wall-clock timestamps in traces (Azure 2023/2024 style) turned into seconds.

Azure 2023 writes ``2023-11-16 18:17:03.9799600``: seven fractional digits
(100 ns ticks) and no time zone. Azure 2024 writes
``2024-05-10 00:00:00.009930+00:00``: a UTC offset and a fraction of any length.
``%f`` takes at most six digits, so the fraction is split off and added as a
number; only the whole-second part goes through ``datetime``.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from twin.errors import quote

# date, time to the second, optional fraction of any length, optional zone.
_WALL_CLOCK = re.compile(
    r"(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?"
)


class WallClock:
    """Parses wall-clock timestamps into seconds since the first one seen.

    One instance per file read. Epoch seconds (~1.7e9) in a float64 keep only
    ~0.2 us of resolution, so whole seconds are counted from the first row's
    whole second (exact integers) and the fractions are subtracted separately.
    The first timestamp parsed is exactly 0.0.
    """

    def __init__(self) -> None:
        self._origin: tuple[int, float] | None = None
        self._last: tuple[str, int] = ("", 0)  # the last whole second parsed, and its epoch seconds

    def seconds(self, text: str) -> float:
        """Seconds since the first timestamp this instance parsed (may be negative)."""
        match = _WALL_CLOCK.fullmatch(text) or _WALL_CLOCK.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"not a timestamp like 'YYYY-MM-DD HH:MM:SS[.fffffff][+HH:MM]': {quote(text)}")
        whole, fraction, zone = match.groups()
        key = whole + zone if zone else whole
        if key == self._last[0]:  # rows of one second share it: parse each second once
            epoch = self._last[1]
        else:
            stamp = datetime.fromisoformat(key)
            if stamp.tzinfo is None:
                # Naive stamps (Azure 2023) are read as UTC; only differences matter.
                stamp = stamp.replace(tzinfo=timezone.utc)
            epoch = int(stamp.timestamp())
            self._last = (key, epoch)
        part = int(fraction) / 10 ** len(fraction) if fraction else 0.0
        if self._origin is None:
            self._origin = (epoch, part)
        origin_epoch, origin_part = self._origin
        return float(epoch - origin_epoch) + (part - origin_part)


def has_zone(text: str) -> bool:
    """True when a wall-clock timestamp carries a UTC offset or ``Z`` (Azure 2024 style)."""
    match = _WALL_CLOCK.fullmatch(text.strip())
    return bool(match and match.group(3))
