"""A provider of ``date.today``: today's date, in a time zone.

python examples/date_agent.py          (or: mcp-mesh run examples/date_agent.py)
"""

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mesh_agent import mesh_agent


@mesh_agent(capabilities=["date.today"], version="1.0.0", labels={"team": "core"})
def today(timezone: str = "UTC") -> str:
    """Today's date (ISO 8601) in ``timezone``."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {timezone!r}") from None
    return datetime.now(zone).date().isoformat()


if __name__ == "__main__":
    mesh_agent.run()
