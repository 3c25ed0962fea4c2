"""An agent's life in the registry: register, heartbeat every interval, unregister at the end.

While the registry is away (or answers 5xx), the agent keeps serving and retries with
exponential backoff and jitter, capped at its heartbeat interval: the jitter spreads a fleet's
reconnections out when the registry comes back, and the cap brings each agent back within an
interval. A heartbeat answered 404 means the registry lost the record (a new database, or the
agent was deleted while offline): it registers again, in full.

An agent that fronts something else (a sidecar's child process) gives a ``probe``: before
each heartbeat it is asked whether the agent can serve; while it says no, heartbeats stop, and
the registry marks the agent unhealthy as for any silent agent. A changed record (the child's
tools changed) is registered at once with :meth:`replace`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

from mesh_registry.client import RegistryClient
from mesh_registry.errors import MeshError, NotFound, Unavailable
from mesh_registry.model import Agent
from mesh_registry.waiting import wait_set

log = logging.getLogger(__name__)
T = TypeVar("T")


def transient(error: BaseException) -> bool:
    """Errors that time can fix: the registry is unreachable, failing (5xx), or asking for
    fewer requests (429)."""
    if isinstance(error, Unavailable):
        return True
    return isinstance(error, MeshError) and (error.code >= 500 or error.code == 429)


Probe = Callable[[], Awaitable[bool]]


class Lifecycle:
    def __init__(
        self,
        registry: RegistryClient,
        record: Agent,
        interval: float,
        *,
        probe: Probe | None = None,
    ) -> None:
        self._registry = registry
        self.record = record
        self._interval = interval
        self._probe = probe
        self._serving = True  # what the probe said last
        self._replaced = asyncio.Event()
        self.registered = asyncio.Event()
        self.registrations = 0  # how many times the record was (re)registered
        self._away = False
        self._task: asyncio.Task[None] | None = None
        self._left: bool | None = None  # once left: whether the registry acknowledged it

    @property
    def name(self) -> str:
        return self.record.metadata.name

    @property
    def namespace(self) -> str:
        return self.record.metadata.namespace

    def start(self) -> None:
        """Register and heartbeat in the background, until :meth:`leave`."""
        self._task = asyncio.create_task(self.run(), name=f"mesh-lifecycle-{self.name}")

    async def leave(self, *, within: float) -> bool:
        """Stop heartbeating, then unregister (see :meth:`unregister`). Only the first call
        acts: a heartbeat after the unregister would be answered 404, and register again."""
        if self._left is None:
            self._left = False
            if self._task is not None:
                self._task.cancel()
                # Bounded: a heartbeat or probe that does not heed the cancellation at once
                # must not hold up the departure.
                await asyncio.wait({self._task}, timeout=within)
            self._left = await self.unregister(within=within)
        return self._left

    def replace(self, record: Agent) -> None:
        """Register ``record`` instead of the current one, now (not at the next heartbeat)."""
        self.record = record
        self._replaced.set()

    async def run(self) -> None:
        """Stay registered and heartbeating until cancelled."""
        while True:
            try:
                self._replaced.clear()
                await self._retrying(self._register)
                while not self._replaced.is_set():
                    if await self._can_serve():
                        await self._retrying(self._heartbeat)
                    await wait_set(self._replaced, self._interval)
            except NotFound:
                log.info("the registry does not know %s any more: registering again", self.name)
                self.registered.clear()
            except MeshError as error:  # refused, not failing: say so, and try again later
                log.error("the registry refused %s: %s", self.name, error.message)
                self.registered.clear()
                await asyncio.sleep(self._interval)
            except Exception:
                # Anything else (an answer that does not decode, a bug): this loop is all that
                # keeps the agent in the mesh, so it must not end silently. Say so, start over.
                log.exception("registering or heartbeating %s failed; trying again", self.name)
                self.registered.clear()
                await asyncio.sleep(self._interval)

    async def unregister(self, *, within: float) -> bool:
        """Remove the record, within ``within`` seconds; ``False`` if that was not possible."""
        try:
            async with asyncio.timeout(within):
                await self._registry.unregister(self.name, self.namespace)
        except NotFound:
            return True
        except (TimeoutError, MeshError) as error:
            log.warning("could not unregister %s: %s", self.name, error)
            return False
        log.info("unregistered %s/%s", self.namespace, self.name)
        return True

    async def _register(self) -> None:
        await self._registry.register(self.record)
        self.registrations += 1
        self.registered.set()
        log.info("registered %s/%s at %s", self.namespace, self.name, self.record.spec.endpoint)

    async def _can_serve(self) -> bool:
        if self._probe is None:
            return True
        try:
            serving = await self._probe()
        except Exception:  # a probe that fails says no
            log.exception("the probe of %s failed", self.name)
            serving = False
        if serving != self._serving:
            self._serving = serving
            if serving:
                log.info("%s can serve again: heartbeats resume", self.name)
            else:
                log.warning("%s cannot serve: heartbeats stop until it can", self.name)
        return serving

    async def _heartbeat(self) -> None:
        await self._registry.heartbeat(self.name, self.namespace)
        if self._away:
            self._away = False
            log.info("registry reachable again")

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        retrying = AsyncRetrying(
            retry=retry_if_exception(transient),
            wait=wait_exponential_jitter(
                multiplier=min(0.2, self._interval), max=self._interval, jitter=self._interval / 2
            ),
            before_sleep=self._note_outage,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await call()
        raise AssertionError("unreachable: tenacity retries until the call returns")

    def _note_outage(self, state: RetryCallState) -> None:
        if not self._away:
            self._away = True
            error = state.outcome.exception() if state.outcome else None
            log.warning("registry unavailable (%s): serving on, retrying", error)
