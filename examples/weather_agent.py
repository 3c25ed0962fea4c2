"""A provider of ``weather.forecast``. Run it twice, as two instances with other settings:

    MESH_AGENT_NAME=weather-eu MESH_AGENT_LABELS=env=prod,region=eu \\
        MESH_AGENT_VERSION=1.4.0 MESH_AGENT_TAGS=fast python examples/weather_agent.py
    MESH_AGENT_NAME=weather-us MESH_AGENT_LABELS=env=prod,region=us \\
        MESH_AGENT_VERSION=2.1.0 python examples/weather_agent.py
"""

import os
import zlib

from mesh_agent import mesh_agent

SKIES = ["sunny", "cloudy", "rain", "snow", "windy"]


@mesh_agent(capabilities=["weather.forecast"], labels={"team": "geo"})
def forecast(city: str, days: int = 1) -> dict:
    """A (made-up, but stable) forecast for ``city``."""
    if not 1 <= days <= 7:
        raise ValueError("days must be between 1 and 7")
    seed = zlib.crc32(city.lower().encode())
    return {
        "city": city,
        "days": [
            {"sky": SKIES[(seed + day) % len(SKIES)], "high_c": 8 + (seed + 3 * day) % 20}
            for day in range(days)
        ],
        "served_by": os.environ.get("MESH_AGENT_NAME", "weather"),
    }


if __name__ == "__main__":
    mesh_agent.run()
