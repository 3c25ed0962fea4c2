"""The sidecar: an existing stdio MCP server joins the mesh unchanged.

``mcp-mesh sidecar -- npx -y some-mcp-server`` runs the server as a child process (see
:mod:`child`), serves its tools over streamable HTTP (see :mod:`tools`), registers each as a
capability, heartbeats only while the child answers, and registers again when its tools change.
"""
