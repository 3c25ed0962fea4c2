"""A consumer: ``report.daily`` needs today's date (required) and a forecast (optional).

The forecast comes from a production provider (selector), of a compatible version (range),
preferably a fast one (tag). Without one, or when none answers, the report says so instead
of failing.

    python examples/report_agent.py
"""

from mesh_agent import Dependency, ProviderUnreachable, mesh_agent


@mesh_agent(
    capabilities=["report.daily"],
    dependencies=[
        {"capability": "date.today", "required": True},
        {
            "capability": "weather.forecast",
            "selector": "env=prod",
            "version": ">=1.2 <3",
            "tags": ["+fast"],
        },
    ],
    labels={"team": "ops"},
)
async def daily_report(city: str, date_today: Dependency, weather: Dependency | None = None) -> str:
    """One line about today in ``city``."""
    today = await date_today(timezone="UTC")
    if weather is None:
        return f"{today} {city}: no forecast available"
    try:
        forecast = await weather(city=city)
    except ProviderUnreachable:  # known providers, none answering (the registry will notice)
        return f"{today} {city}: no forecast available"
    sky, high = forecast["days"][0]["sky"], forecast["days"][0]["high_c"]
    return f"{today} {city}: {sky}, {high}°C (forecast by {forecast['served_by']})"


if __name__ == "__main__":
    mesh_agent.run()
