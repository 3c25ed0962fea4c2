"""``mcp-mesh``: look at the mesh the way kubectl looks at a cluster.

    mcp-mesh get agents [NAME…] [-n NS | -A] [-l SELECTOR] [--capability C]
                        [-o table|wide|json|yaml]
    mcp-mesh describe agent NAME [-n NS]
    mcp-mesh watch agents [-n NS | -A] [-l SELECTOR] [--capability C] [-o table|json]
    mcp-mesh discover CAPABILITY [--selector S] [--version V] [--tags T] [-o table|json|yaml]
    mcp-mesh run path/to/agent.py
    mcp-mesh run-wasm PATH [--capability C] [--labels k=v,…]
    mcp-mesh sidecar [--capability-prefix P] [--labels k=v,…] -- COMMAND ARGS…
    mcp-mesh gateway [--port P | --stdio] [-n NS] [-l SELECTOR] [--capability GLOB] [--meta-tools]
    mcp-mesh export [-n NS | -A] [-l SELECTOR] [-o FILE] [--format json|yaml]
    mcp-mesh import FILE [--dry-run] [--overwrite]

The registry is ``--registry URL`` or ``MESH_REGISTRY_URL`` (default http://127.0.0.1:8000),
with ``--token`` / ``MESH_TOKEN`` and ``--ca-bundle`` / ``MESH_CA_BUNDLE`` when it needs them.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import NoReturn, TypeVar

import click

from mesh_registry.cli import output
from mesh_registry.client import RegistryClient, ResumePoint
from mesh_registry.errors import Gone, MeshError, NotFound, Unavailable
from mesh_registry.logs import escape_controls
from mesh_registry.model import Agent, AgentList, EventType
from mesh_registry.query import AgentQuery
from mesh_registry.transfer import (
    Outcome,
    Result,
    UnreadableExport,
    export_document,
    import_items,
    read_export,
)

T = TypeVar("T")
DEFAULT_REGISTRY = "http://127.0.0.1:8000"

namespace_option = click.option(
    "-n", "--namespace", default="default", show_default=True, help="The namespace."
)
all_namespaces_option = click.option(
    "-A", "--all-namespaces", is_flag=True, help="Every namespace."
)
selector_option = click.option("-l", "--selector", default="", help="A label selector.")
capability_option = click.option(
    "--capability", multiple=True, help="Agents providing this capability (repeatable: any)."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--registry",
    envvar="MESH_REGISTRY_URL",
    default=DEFAULT_REGISTRY,
    show_default=True,
    help="The registry's URL (or MESH_REGISTRY_URL).",
)
@click.option(
    "--token",
    envvar="MESH_TOKEN",
    default=None,
    help="Bearer token for a registry with authentication (or MESH_TOKEN).",
)
@click.option(
    "--ca-bundle",
    envvar="MESH_CA_BUNDLE",
    default=None,
    type=click.Path(dir_okay=False),
    help="CAs of an https:// registry, PEM (or MESH_CA_BUNDLE).",
)
@click.pass_context
def main(context: click.Context, registry: str, token: str | None, ca_bundle: str | None) -> None:
    """Inspect and follow the agents of an mcp-mesh registry."""
    context.obj = Target(registry, token, ca_bundle)


@dataclass(frozen=True)
class Target:
    """The registry the commands talk to, and how."""

    url: str
    token: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None

    def __str__(self) -> str:
        return self.url


@main.group()
def get() -> None:
    """List resources."""


@get.command("agents")
@click.argument("names", nargs=-1)
@namespace_option
@all_namespaces_option
@selector_option
@capability_option
@click.option(
    "-o", "--output", "fmt", type=click.Choice(["table", "wide", "json", "yaml"]), default="table"
)
@click.pass_obj
def get_agents(
    registry: Target,
    names: tuple[str, ...],
    namespace: str,
    all_namespaces: bool,
    selector: str,
    capability: tuple[str, ...],
    fmt: str,
) -> None:
    """List agents, or show the agents NAMES (as kubectl get does)."""
    if names:
        _get_named(registry, names, namespace, all_namespaces or bool(selector or capability), fmt)
        return

    query = AgentQuery(
        namespace=None if all_namespaces else namespace,
        selector=selector,
        capabilities=capability,
    )

    async def fetch(client: RegistryClient) -> AgentList:
        return await client.list_all(query)

    agents = _run(registry, fetch)
    if fmt in ("json", "yaml"):
        click.echo(output.dump(agents, fmt))
    elif not agents.items:
        where = "any namespace" if all_namespaces else f"namespace {namespace}"
        click.echo(f"No agents found in {where}.", err=True)
    else:
        click.echo(output.agent_rows(agents.items, wide=fmt == "wide", namespaces=all_namespaces))


def _get_named(
    registry: Target, names: tuple[str, ...], namespace: str, filtered: bool, fmt: str
) -> None:
    """``get agents NAME…``: one agent as its object, several as a list; exit 1 if any is
    missing, after showing the others."""
    if filtered:
        raise click.UsageError(
            "names cannot be given with --all-namespaces, --selector or --capability"
        )

    async def fetch(client: RegistryClient) -> list[Agent | MeshError]:
        found: list[Agent | MeshError] = []
        for name in names:
            try:
                found.append(await client.get(name, namespace))
            except NotFound as error:
                found.append(error)
        return found

    results = _run(registry, fetch)
    agents = [result for result in results if isinstance(result, Agent)]
    for result in results:
        if isinstance(result, MeshError):
            click.echo(f"Error from {registry}: {result.message}", err=True)
    if agents and fmt in ("json", "yaml"):
        shown = agents[0] if len(names) == 1 else output.as_list(agents)
        click.echo(output.dump(shown, fmt))
    elif agents:
        click.echo(output.agent_rows(agents, wide=fmt == "wide", namespaces=False))
    if len(agents) < len(names):
        sys.exit(1)


@main.group()
def describe() -> None:
    """Show one resource in detail."""


@describe.command("agent")
@click.argument("name")
@namespace_option
@click.pass_obj
def describe_agent(registry: Target, name: str, namespace: str) -> None:
    """Show an agent: its record, status, capabilities and dependencies."""
    agent = _run(registry, lambda client: client.get(name, namespace))
    click.echo(output.describe(agent))


@main.group()
def watch() -> None:
    """Follow changes as they happen."""


@watch.command("agents")
@namespace_option
@all_namespaces_option
@selector_option
@capability_option
@click.option("-o", "--output", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_obj
def watch_agents(
    registry: Target,
    namespace: str,
    all_namespaces: bool,
    selector: str,
    capability: tuple[str, ...],
    fmt: str,
) -> None:
    """Print agent events as they come (current agents first). Ctrl-C to stop."""
    query = AgentQuery(
        namespace=None if all_namespaces else namespace,
        selector=selector,
        capabilities=capability,
    )

    async def follow(client: RegistryClient) -> None:
        resume = ResumePoint()
        if fmt == "table":
            click.echo(f"{'EVENT':<9} {'NAME':<32} {'PHASE':<10} REVISION")
        while True:
            try:
                async for event in client.watch(query, since=resume.since):
                    if event.type is EventType.ERROR:
                        raise Gone(getattr(event.object, "message", "watch expired"))
                    resume.observe(event)
                    if fmt == "json":
                        click.echo(event.model_dump_json(exclude_none=True))
                    elif event.type is not EventType.BOOKMARK:
                        click.echo(output.event_line(event, namespaces=all_namespaces))
            except Gone as error:
                click.echo(f"# {error.message}: starting again from the current state", err=True)
                resume.restart()
            except Unavailable as error:
                click.echo(f"# {error.message}; reconnecting", err=True)
                await asyncio.sleep(1.0)

    try:
        _run(registry, follow)
    except KeyboardInterrupt:
        pass


@main.command("discover")
@click.argument("capability", nargs=-1, required=True)
@click.option("--selector", "-l", default="", help="A label selector.")
@click.option("--version", "version_range", default="", help="A version range, e.g. '>=1.2 <2'.")
@click.option("--tags", default="", help="Comma-separated: x required, +x preferred, -x excluded.")
@click.option("-n", "--namespace", default=None, help="Only this namespace (default: all).")
@click.option(
    "-o", "--output", "fmt", type=click.Choice(["table", "json", "yaml"]), default="table"
)
@click.pass_obj
def discover(
    registry: Target,
    capability: tuple[str, ...],
    selector: str,
    version_range: str,
    tags: str,
    namespace: str | None,
    fmt: str,
) -> None:
    """Healthy providers of CAPABILITY (every one given), best first."""
    found = _run(
        registry,
        lambda client: client.discover(
            AgentQuery(
                capabilities=capability,
                selector=selector,
                namespace=namespace,
                version=version_range,
                tags=tuple(t for t in tags.split(",") if t),
            )
        ),
    )
    if fmt in ("json", "yaml"):
        click.echo(output.dump(found, fmt))  # an AgentList, as `get agents -o json` prints
    elif not found.items:
        click.echo(f"No healthy provider of {', '.join(capability)}.", err=True)
    else:
        click.echo(output.ranked_rows(found.items, capability[0]))


@main.command("export")
@namespace_option
@all_namespaces_option
@selector_option
@click.option("-o", "--output", "path", default="-", help="The file to write (default: stdout).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "yaml"]),
    default=None,
    help="Default: yaml for a .yaml or .yml file, json otherwise.",
)
@click.pass_obj
def export(
    registry: Target,
    namespace: str,
    all_namespaces: bool,
    selector: str,
    path: str,
    fmt: str | None,
) -> None:
    """Write the agents' records (metadata and spec) as an AgentList, to import elsewhere."""
    query = AgentQuery(namespace=None if all_namespaces else namespace, selector=selector)

    async def fetch(client: RegistryClient) -> AgentList:
        return await client.list_all(query)

    agents = _run(registry, fetch)
    document = export_document(agents.items, agents.metadata.resource_version or "")
    fmt = fmt or ("yaml" if path.endswith((".yaml", ".yml")) else "json")
    text = output.as_yaml(document) if fmt == "yaml" else output.as_json(document)
    if path == "-":
        click.echo(text)
    else:
        with open(path, "w", encoding="utf-8") as file:
            file.write(text + "\n")
        click.echo(f"exported {len(agents.items)} agents to {path}", err=True)


@main.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--dry-run", is_flag=True, help="Say what would happen; write nothing.")
@click.option("--overwrite", is_flag=True, help="Replace records that exist and differ.")
@click.pass_obj
def import_agents(registry: Target, path: str, dry_run: bool, overwrite: bool) -> None:
    """Register the agents of an export (JSON or YAML); exit 1 if any was refused."""
    with click.open_file(path, encoding="utf-8") as file:
        text = file.read()
    try:
        items = read_export(text)
    except UnreadableExport as error:
        raise click.UsageError(f"{path}: {error}") from None

    async def write(client: RegistryClient) -> list[Outcome]:
        return await import_items(client, items, overwrite=overwrite, dry_run=dry_run)

    outcomes = _run(registry, write)
    for outcome in outcomes:
        if outcome.result is Result.REFUSED:
            click.echo(escape_controls(f"refused {outcome.key}: {outcome.reason}"), err=True)
    counts = {result: sum(o.result is result for o in outcomes) for result in Result}
    summary = ", ".join(f"{result.value} {count}" for result, count in counts.items())
    click.echo(f"{summary}{' (dry run: nothing written)' if dry_run else ''}")
    if counts[Result.REFUSED]:
        sys.exit(1)


@main.command("run")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def run_agent(context: click.Context, path: str) -> None:
    """Run the agent defined in the Python file PATH (the mcp-mesh agent SDK)."""
    _exec_agent(context, "mesh_agent", [path])


_PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


@main.command("run-wasm", context_settings=_PASS_THROUGH, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run_wasm(context: click.Context, args: tuple[str, ...]) -> None:
    """Serve WebAssembly modules as a mesh agent: PATH [--capability …] [--labels …]
    (see run-wasm --help)."""
    _exec_agent(context, "mesh_agent.wasm", list(args))


@main.command("sidecar", context_settings=_PASS_THROUGH, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def sidecar(context: click.Context, args: tuple[str, ...]) -> None:
    """Bring a stdio MCP server into the mesh: [OPTIONS] -- COMMAND ARGS… (see sidecar
    --help)."""
    _exec_agent(context, "mesh_agent.sidecar", list(args))


@main.command("gateway", context_settings=_PASS_THROUGH, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def gateway(context: click.Context, args: tuple[str, ...]) -> None:
    """Serve the whole mesh as one MCP server: [--port P] [--stdio] [--namespace NS]
    [--selector S] [--capability GLOB] [--meta-tools] (see gateway --help)."""
    _exec_agent(context, "mesh_agent.gateway", list(args))


def _exec_agent(context: click.Context, module: str, args: list[str]) -> NoReturn:
    """Become ``python -m module args``, with this command's registry settings in the new
    program's environment: the agent is its own program (its signals, its exit status), and
    the SDK is not imported here, so the other commands stay quick to start."""
    environment = dict(os.environ)
    parent = context.parent
    if parent and parent.get_parameter_source("registry") is click.core.ParameterSource.COMMANDLINE:
        environment["MESH_REGISTRY_URL"] = context.obj.url  # --registry wins, as it would here
    for variable, value in (
        ("MESH_TOKEN", context.obj.token),
        ("MESH_CA_BUNDLE", context.obj.ca_bundle),
    ):
        if value:
            environment[variable] = value
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", module, *args], environment)


def _run(registry: Target, call: Callable[[RegistryClient], Awaitable[T]]) -> T:
    async def run() -> T:
        client = RegistryClient(registry.url, token=registry.token, ca_bundle=registry.ca_bundle)
        async with client:
            return await call(client)

    try:
        return asyncio.run(run())
    except MeshError as error:
        hint = ""
        if error.code == 401:
            hint = " (give a token: --token or MESH_TOKEN)"
        click.echo(f"Error from {registry}: {error.message}{hint}", err=True)
        sys.exit(1)
    except ValueError as error:  # e.g. an unreadable CA bundle
        click.echo(f"mcp-mesh: {error}", err=True)
        sys.exit(1)
