"""How an Agent is stored: JSON without its ``resourceVersion``.

As with Kubernetes on etcd, the version is not part of the stored value: it is the revision of
the object's last change, stamped onto the object when it is read back.
"""

from __future__ import annotations

from mesh_registry.model import Agent, load_agent

_UNSTORED = {"metadata": {"resource_version"}}


def encode(agent: Agent) -> str:
    return agent.model_dump_json(exclude=_UNSTORED)


def decode(value: str, revision: int) -> Agent:
    return with_revision(load_agent(value), revision)


def with_revision(agent: Agent, revision: int) -> Agent:
    metadata = agent.metadata.model_copy(update={"resource_version": str(revision)})
    return agent.model_copy(update={"metadata": metadata})
