"""What a read of many agents returns: the versioned records and their heartbeat times, apart.

An agent's last heartbeat time lives in its lease, not in its record (docs/design.md,
"Health"): a read serves each record with the time beside it. Keeping the two apart until
the answer is written lets a transport encode a record version once and add the time to the
text (``server/agent_json.py``), instead of copying and encoding every record on every read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mesh_registry.model import Agent, AgentList, ListMeta
from mesh_registry.records import with_heartbeat


@dataclass(frozen=True, slots=True)
class Listing:
    """Agents as of ``revision``: ``records[i]`` last heartbeat at ``heartbeats[i]`` (epoch
    seconds; ``None``: the record's own time stands)."""

    revision: int
    records: Sequence[Agent]
    heartbeats: Sequence[float | None]
    continue_token: str | None = None

    def __post_init__(self) -> None:
        if len(self.records) != len(self.heartbeats):
            raise ValueError("a listing needs one heartbeat time (or None) per record")

    def agents(self) -> list[Agent]:
        """The agents as a reader sees them: each with its last heartbeat time."""
        return [
            with_heartbeat(record, beat)
            for record, beat in zip(self.records, self.heartbeats, strict=True)
        ]

    def metadata(self) -> ListMeta:
        return ListMeta(resource_version=str(self.revision), continue_=self.continue_token)

    def as_list(self) -> AgentList:
        return AgentList(metadata=self.metadata(), items=self.agents())
