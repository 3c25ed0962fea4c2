"""``mcp-mesh run-wasm PATH``: serve WebAssembly modules as the tools of a mesh agent."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mesh_agent.agent import MeshAgent
from mesh_agent.cli import agent_options, settings_from_options


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
    source = Path(path).resolve()
    # Named, unless told otherwise, after the module's directory.
    agent = MeshAgent(default_name=str(source.parent if source.is_file() else source))
    agent.override(settings_from_options(options))
    try:
        agent.add_wasm(path, capabilities=capabilities)
    except ValueError as error:
        print(f"mcp-mesh run-wasm: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    agent.run()


if __name__ == "__main__":
    main(prog_name="mcp-mesh run-wasm")
