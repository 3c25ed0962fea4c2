"""A live copy of the agents that provide some capabilities, kept by one SSE watch.

As a Kubernetes informer does: the watch starts with the current state (ADDED events up to the
BOOKMARK that ends it), then follows changes. A dropped connection resumes after the last
revision seen; a 410 (the revision left the history) starts over from the current state. While
the registry is away the last known copy stays in use, and a fresh copy replaces it only once
complete.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping

from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from mesh_registry.client import RegistryClient, ResumePoint
from mesh_registry.errors import Gone, MeshError, Unavailable
from mesh_registry.model import Agent, Bookmark, EventType, ObjectKey
from mesh_registry.query import AgentQuery

log = logging.getLogger(__name__)

OnChange = Callable[[Mapping[ObjectKey, Agent]], None]


class Informer:
    def __init__(
        self,
        registry: RegistryClient,
        namespace: str | None,
        capabilities: Collection[str],
        on_change: OnChange,
        *,
        selector: str = "",
        max_backoff: float = 5.0,
    ) -> None:
        """Follow the agents of ``namespace`` (``None``: every namespace the token may read)
        that provide any of ``capabilities`` (none: every agent) and match ``selector``."""
        self._registry = registry
        self._namespace = namespace
        self._capabilities = sorted(capabilities)
        self._selector = selector
        self._on_change = on_change
        self._max_backoff = max_backoff
        self.agents: dict[ObjectKey, Agent] = {}
        self._resume = ResumePoint()

    @property
    def revision(self) -> int | None:
        """Where the next watch resumes (``None``: from the current state)."""
        return self._resume.revision

    async def run(self) -> None:
        """Follow the registry until cancelled."""
        while True:
            retrying = AsyncRetrying(
                # Any error, not only the registry's: this loop is all that keeps the known
                # providers current, so it must never end (an event that does not decode, a
                # failing callback); it backs off and says why instead.
                retry=retry_if_exception_type(Exception),
                wait=wait_exponential_jitter(multiplier=0.05, max=self._max_backoff, jitter=0.5),
                before_sleep=self._log_retry,
            )
            async for attempt in retrying:
                with attempt:
                    await self._follow()
            # A stream that worked and then ended (a registry restart): reconnect at once,
            # with the backoff starting small again.
            await asyncio.sleep(0.05)

    async def _follow(self) -> None:
        """One watch stream. Raise when it could not do anything useful (to back off)."""
        fresh: dict[ObjectKey, Agent] | None = {} if self.revision is None else None
        useful = False
        try:
            query = AgentQuery(
                namespace=self._namespace,
                capabilities=tuple(self._capabilities),
                selector=self._selector,
            )
            async for event in self._registry.watch(query, since=self._resume.since):
                if event.type is EventType.ERROR:
                    raise Gone(getattr(event.object, "message", "watch expired"))
                useful = True
                if fresh is not None:
                    fresh = self._initial(event.object, fresh)
                else:
                    self._apply(event.type, event.object)
                self._resume.observe(event)
        except Gone as error:
            # An ERROR event, or a 410 answer: the revision has left the history (or is newer
            # than the registry's, if its data was replaced). Start over from the current state.
            log.info(
                "watch of %s restarts from the current state: %s",
                self._capabilities,
                error.message,
            )
            self._resume.restart()
            raise
        except Unavailable:
            if not useful:
                raise
            log.info(
                "watch of %s interrupted; resuming after revision %s",
                self._capabilities,
                self.revision,
            )

    def _initial(self, obj: object, fresh: dict[ObjectKey, Agent]) -> dict[ObjectKey, Agent] | None:
        """Collect the initial state; swap it in when its closing BOOKMARK arrives."""
        if isinstance(obj, Agent):
            fresh[obj.key] = obj
            return fresh
        if isinstance(obj, Bookmark) and obj.ends_initial_state:
            self.agents = fresh
            self._on_change(self.agents)
            return None
        return fresh

    def _apply(self, kind: EventType, obj: object) -> None:
        if not isinstance(obj, Agent):
            return  # a periodic BOOKMARK: only its revision matters
        if kind is EventType.DELETED:
            self.agents.pop(obj.key, None)
        else:
            self.agents[obj.key] = obj
        self._on_change(self.agents)

    def _log_retry(self, state: object) -> None:
        outcome = getattr(state, "outcome", None)
        error = outcome.exception() if outcome is not None else None
        if error is not None and not isinstance(error, MeshError):
            log.error(
                "registry watch failed; keeping %d known providers",
                len(self.agents),
                exc_info=error,
            )
            return
        log.warning(
            "registry watch unavailable (%s); keeping %d known providers", error, len(self.agents)
        )
