"""mcp-mesh agent SDK.

The agent runtime (``@mesh_agent``, dependency injection) builds on the registry's shared model,
selector and discovery modules; until it lands, this package only marks the import name.
"""

__version__ = "0.1.0"
