"""``mcp-mesh run-wasm PATH``: serve WebAssembly modules as the tools of a mesh agent."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mesh_agent.agent import MeshAgent
from mesh_agent.cli import agent_options, export_agent_options


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("path", type=click.Path(exists=True))
@click.option(
    "--capability",
    "capabilities",
    multiple=True,
    help="TOOL=CAPABILITY, or CAPABILITY for a single tool (repeatable); replaces the manifest's.",
)
@agent_options
def main(path: str, capabilities: tuple[str, ...], **options: object) -> None:
    """Serve the WebAssembly module(s) at PATH (a tool.toml/tool.json manifest, a module's
    directory, or a directory of those) as a mesh agent, until SIGTERM or SIGINT."""
    export_agent_options(options)
    source = Path(path).resolve()
    # The agent's default name comes from the program's: the module's directory here.
    sys.argv[0] = str(source.parent if source.is_file() else source)
    agent = MeshAgent()
    try:
        agent.add_wasm(path, capabilities=capabilities)
    except ValueError as error:
        print(f"mcp-mesh run-wasm: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    agent.run()


if __name__ == "__main__":
    main(prog_name="mcp-mesh run-wasm")
