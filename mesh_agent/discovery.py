"""Finding providers from any code: ``discover()``, and ``MeshClient`` for more.

    providers = await discover("geo.lookup", selector="env=prod", version="^1.2")

    async with MeshClient() as mesh:
        geo = await mesh.dependency("geo.lookup", selector="env=prod")
        if geo is not None:
            print(await geo(city="Paris"))

Both rank as the registry ranks (docs/design.md, "Discovery"). ``MeshClient.dependency``
chooses from a ``ProviderSet``, whose one watch follows every capability asked for, so later
calls see providers come and go without asking the registry again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

from mesh_agent.calltokens import CallTokenCache
from mesh_agent.dependency import Dependency
from mesh_agent.provider_set import ProviderSet
from mesh_agent.settings import AgentSettings
from mesh_registry.model import DEFAULT_NAMESPACE, Agent, DependencySpec
from mesh_registry.query import AgentQuery


async def discover(
    capability: str | Sequence[str],
    *,
    selector: str = "",
    version: str = "",
    tags: Iterable[str] = (),
    namespace: str | None = None,
    registry_url: str | None = None,
) -> list[Agent]:
    """The healthy providers of ``capability`` (all of them, if several), best first, in
    ``namespace`` (default: ``MESH_NAMESPACE``, else ``default``)."""
    async with MeshClient(registry_url) as mesh:
        return await mesh.discover(
            capability, selector=selector, version=version, tags=tags, namespace=namespace
        )


class MeshClient:
    """The mesh from outside an agent. The registry is ``registry_url``, else
    ``MESH_REGISTRY_URL``, else ``http://127.0.0.1:8000``; ``token`` and ``ca_bundle`` default
    to ``MESH_TOKEN`` and ``MESH_CA_BUNDLE``."""

    def __init__(
        self,
        registry_url: str | None = None,
        *,
        namespace: str | None = None,
        token: str | None = None,
        ca_bundle: str | None = None,
    ) -> None:
        settings = AgentSettings(
            registry_url=registry_url, namespace=namespace, token=token, ca_bundle=ca_bundle
        )
        environment = AgentSettings().with_environment()
        given = environment.overridden_by(settings)  # arguments win over the environment
        self.registry = given.registry_client()
        self.namespace = given.namespace or DEFAULT_NAMESPACE
        self._providers = ProviderSet(
            self.registry, self.namespace, tokens=CallTokenCache(self.registry)
        )
        self._providers.start()

    async def __aenter__(self) -> MeshClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._providers.aclose()
        await self.registry.aclose()

    async def discover(
        self,
        capability: str | Sequence[str],
        *,
        selector: str = "",
        version: str = "",
        tags: Iterable[str] = (),
        namespace: str | None = None,
    ) -> list[Agent]:
        """The healthy providers of ``capability`` (all of them, if several), best first, in
        ``namespace`` (default: this client's)."""
        capabilities = [capability] if isinstance(capability, str) else list(capability)
        query = AgentQuery(
            capabilities=tuple(capabilities),
            selector=selector,
            version=version,
            tags=tuple(tags),
            namespace=namespace or self.namespace,
        )
        return (await self.registry.discover(query)).items

    async def dependency(
        self,
        capability: str,
        *,
        selector: str = "",
        version: str = "",
        tags: Sequence[str] = (),
        wait: float = 5.0,
        **extra: Any,
    ) -> Dependency | None:
        """The providers of ``capability`` now, best first (``None`` if there is none, or if
        ``required`` is false and none answered its last try). The first call for a capability
        adds it to the client's watch and waits up to ``wait`` seconds for its providers."""
        spec = DependencySpec(
            capability=capability, selector=selector, version=version, tags=list(tags), **extra
        )
        await self._providers.add(spec)
        await self._providers.ready(spec, within=wait)
        return self._providers.dependency(spec, asyncio.get_running_loop())
