"""WebAssembly modules as mesh capabilities, each call sandboxed by wasmtime.

``mcp-mesh run-wasm PATH`` serves modules as an agent; ``MeshAgent.add_wasm(PATH)`` adds them
to a Python agent. :mod:`manifest` reads a module's ``tool.toml``/``tool.json``,
:mod:`runtime` compiles, caches and runs modules in sandboxes, :mod:`tools` makes MCP tools of
them.
"""
