"""Command lines: ``mcp-mesh-registry`` (the server) and ``mcp-mesh`` (the operator's tool)."""
