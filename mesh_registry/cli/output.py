"""How ``mcp-mesh`` shows agents: kubectl-like tables, descriptions, JSON and YAML."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from mesh_registry.logs import escape_controls
from mesh_registry.model import Agent, AgentList, ListMeta, WatchEvent


def age(then: datetime | None, now: datetime | None = None) -> str:
    """kubectl's short ages: 42s, 5m, 3h, 2d."""
    if then is None:
        return "<none>"
    seconds = max(0.0, ((now or datetime.now(UTC)) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    rows = [[escape_controls(str(cell)) for cell in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = ["   ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def capabilities(agent: Agent) -> str:
    shown = [f"{c.name}@{c.version}" for c in agent.spec.capabilities]
    return ",".join(shown) or "<none>"


def labels(values: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(values.items())) or "<none>"


def agent_rows(agents: Sequence[Agent], *, wide: bool, namespaces: bool) -> str:
    headers = ["NAME", "PHASE", "CAPABILITIES", "LAST HEARTBEAT", "AGE"]
    if wide:
        headers += ["ENDPOINT", "LABELS"]
    if namespaces:
        headers.insert(0, "NAMESPACE")
    rows = []
    for agent in agents:
        row = [
            agent.metadata.name,
            agent.status.phase.value,
            capabilities(agent),
            age(agent.status.last_heartbeat_time),
            age(agent.metadata.creation_timestamp),
        ]
        if wide:
            row += [agent.spec.endpoint, labels(agent.metadata.labels)]
        if namespaces:
            row.insert(0, agent.metadata.namespace)
        rows.append(row)
    return table(headers, rows)


def ranked_rows(agents: Sequence[Agent], capability: str) -> str:
    rows = []
    for rank, agent in enumerate(agents, start=1):
        entry = agent.spec.capability(capability)
        rows.append(
            [
                str(rank),
                agent.metadata.namespace,
                agent.metadata.name,
                entry.version if entry else "",
                ",".join(entry.tags) if entry and entry.tags else "<none>",
                agent.spec.endpoint,
            ]
        )
    return table(["RANK", "NAMESPACE", "NAME", "VERSION", "TAGS", "ENDPOINT"], rows)


def describe(agent: Agent) -> str:
    """An agent for a terminal. What a record holds is shown, never obeyed: control characters
    in free text (a terminal's escape sequences, say) are written as escapes."""
    meta, spec, status = agent.metadata, agent.spec, agent.status

    def when(value: datetime | None) -> str:
        return "<none>" if value is None else f"{value.isoformat()} ({age(value)} ago)"

    def block(values: dict[str, str]) -> list[str]:
        return [escape_controls(f"{k}={v}") for k, v in sorted(values.items())] or ["<none>"]

    lines = [
        f"Name:              {meta.name}",
        f"Namespace:         {meta.namespace}",
        f"UID:               {meta.uid}",
    ]
    for title, values in (("Labels:", meta.labels), ("Annotations:", meta.annotations)):
        first, *rest = block(values)
        lines.append(f"{title:<19}{first}")
        lines += [" " * 19 + line for line in rest]
    lines += [
        f"Resource Version:  {meta.resource_version}",
        f"Generation:        {meta.generation}",
        f"Created:           {when(meta.creation_timestamp)}",
        f"Endpoint:          {spec.endpoint}",
        f"Transport:         {spec.transport.value}",
        f"Health Interval:   {spec.health_interval:g}s",
        "Status:",
        f"  Phase:           {status.phase.value} since {when(status.phase_since)}",
        f"  Last Heartbeat:  {when(status.last_heartbeat_time)}",
        f"  Observed Gen.:   {status.observed_generation}",
        "Capabilities:",
    ]
    if spec.capabilities:
        rows = [
            [c.name, c.tool, c.version, ",".join(c.tags) or "<none>", c.description[:40]]
            for c in spec.capabilities
        ]
        lines += _indent(table(["NAME", "TOOL", "VERSION", "TAGS", "DESCRIPTION"], rows))
    else:
        lines.append("  <none>")
    lines.append("Dependencies:")
    if spec.dependencies:
        rows = [
            [
                d.capability,
                d.selector or "<any>",
                d.version or "<any>",
                ",".join(d.tags) or "<none>",
                str(d.required).lower(),
            ]
            for d in spec.dependencies
        ]
        lines += _indent(table(["CAPABILITY", "SELECTOR", "VERSION", "TAGS", "REQUIRED"], rows))
    else:
        lines.append("  <none>")
    return "\n".join(lines)


def event_line(event: WatchEvent, *, namespaces: bool) -> str:
    return escape_controls(_event_line(event, namespaces=namespaces))


def _event_line(event: WatchEvent, *, namespaces: bool) -> str:
    obj = event.object
    if isinstance(obj, Agent):
        name = f"{obj.metadata.namespace}/{obj.metadata.name}" if namespaces else obj.metadata.name
        return f"{event.type.value:<9} {name:<32} {obj.status.phase.value:<10} {event.revision}"
    if event.type.value == "ERROR":
        return f"ERROR     {getattr(obj, 'message', '')}"
    return f"BOOKMARK  {'':<32} {'':<10} {event.revision}"


def as_json(data: Any) -> str:
    return json.dumps(data, indent=2)


def as_yaml(data: Any) -> str:
    import yaml  # only when asked for: keeps the command's start fast

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's, where built: faster
    dumped = yaml.dump(data, Dumper=dumper, sort_keys=False, default_flow_style=False)
    return str(dumped).rstrip()


def as_list(agents: Sequence[Agent]) -> AgentList:
    """Agents fetched one by one, as a list: its revision is the newest of theirs."""
    newest = max((agent.revision for agent in agents), default=0)
    return AgentList(metadata=ListMeta(resource_version=str(newest)), items=list(agents))


def dump(agent_or_list: Any, output: str) -> str:
    data = agent_or_list.model_dump(mode="json", exclude_none=True)
    return as_yaml(data) if output == "yaml" else as_json(data)


def _indent(text: str) -> list[str]:
    return ["  " + line for line in text.splitlines()]
