"""Call the report agent like any MCP client would: find it in the registry, then call it.

python examples/call_report.py Paris
"""

import asyncio
import sys

from fastmcp import Client

from mesh_agent import discover


async def main(city: str) -> None:
    reporters = await discover("report.daily")
    if not reporters:
        sys.exit("no healthy report.daily provider: start examples/report_agent.py")
    async with Client(reporters[0].spec.endpoint) as report:
        result = await report.call_tool("daily_report", {"city": city})
        print(result.data)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "Paris"))
