"""mcp-mesh registry: a passive, heartbeat-based registry for MCP agents.

The package root stays light (no server imports) because the SDK imports the model, selector,
version and discovery modules from here.
"""

__version__ = "0.1.0"
