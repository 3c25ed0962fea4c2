"""A stdio MCP server run as a child process, and kept running.

The child is reached through fastmcp's client over its stdin and stdout (its stderr is
passed through). It counts as *up* once it has answered ``initialize`` and ``tools/list``. It
*dies* when a call or a probe (every ``probe_interval``) finds its connection closed (the
process exited or was killed), or when it leaves ``UNANSWERED_LIMIT`` probes in a row without
an answer (hung): it is then stopped and started again after a delay that grows exponentially
with jitter (tenacity), so that a crash-looping child is not restarted in a tight loop. A
child that stayed up for ``stable_after`` seconds starts the count from zero again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import mcp_types
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp_types.jsonrpc import CONNECTION_CLOSED
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_never,
    wait_exponential_jitter,
)

from mesh_registry.waiting import within

T = TypeVar("T")
log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 5.0  # seconds to stop a child
UNANSWERED_LIMIT = 3  # probes in a row without an answer: the child is hung
# The child must not see the sidecar's own credentials.
_WITHHELD = ("MESH_TOKEN",)

ToolsListener = Callable[[list[mcp_types.Tool]], Awaitable[None]]


@dataclass(frozen=True)
class RestartPolicy:
    """When and how fast a dead child is started again."""

    max_restarts: int | None = None  # in a row, before giving up; None: never give up
    backoff: float = 0.5  # seconds before the first restart
    backoff_max: float = 30.0
    stable_after: float = 30.0  # seconds up after which the count starts again


class ChildDied(Exception):
    """The child stopped (or could not start); it is restarted if the policy allows."""


class _StableChildDied(ChildDied):
    """The child died after a long, healthy run: restart at once, with a fresh count."""


def display_name(command: Sequence[str]) -> str:
    """A short name for a command: its first argument that is not an option
    (``npx -y @scope/server-x`` → ``server-x``), or its program's."""
    for argument in command[1:]:
        if not argument.startswith("-"):
            return argument.rstrip("/").rsplit("/", 1)[-1]
    return os.path.basename(command[0])


def _restartable(error: BaseException) -> bool:
    return isinstance(error, ChildDied) and not isinstance(error, _StableChildDied)


class ChildFailed(Exception):
    """The restart policy gave up on the child."""


class ChildServer:
    """Runs ``command`` as a stdio MCP server, restarting it when it dies."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        on_tools: ToolsListener,
        restart: RestartPolicy | None = None,
        call_timeout: float = 60.0,
        start_timeout: float = 30.0,
        probe_interval: float = 1.0,
        probe_timeout: float = 5.0,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> None:
        if not command:
            raise ValueError("no command to run")
        self.command = list(command)
        self.restart = restart or RestartPolicy()
        self.call_timeout = call_timeout
        self.start_timeout = start_timeout
        self.probe_interval = probe_interval
        self.probe_timeout = probe_timeout
        environment = dict(os.environ if env is None else env)
        self._env = {k: v for k, v in environment.items() if k not in _WITHHELD}
        self._cwd = cwd
        self._on_tools = on_tools
        self.tools: list[mcp_types.Tool] = []
        self.up = asyncio.Event()
        self._client: Client[StdioTransport] | None = None
        self._died = asyncio.Event()
        self._unanswered = 0
        self._background: set[asyncio.Task[None]] = set()

    # -- supervising -----------------------------------------------------------------------

    async def run(self) -> None:
        """Keep the child running until cancelled; :class:`ChildFailed` if the restart policy
        gives up."""
        try:
            await self._supervise()
        finally:
            for task in self._background:
                task.cancel()

    async def _supervise(self) -> None:
        while True:
            try:
                async for attempt in self._retrying():
                    with attempt:
                        await self._run_once()
            except _StableChildDied:
                continue  # restart now, with a fresh count
            except ChildDied as died:
                raise ChildFailed(
                    f"{self._program} stopped ({died}); gave up after"
                    f" {self.restart.max_restarts} restart(s) in a row"
                ) from None

    def _retrying(self) -> AsyncRetrying:
        policy = self.restart
        stop = (
            stop_never
            if policy.max_restarts is None
            else stop_after_attempt(policy.max_restarts + 1)
        )
        return AsyncRetrying(
            retry=retry_if_exception(_restartable),
            wait=wait_exponential_jitter(
                initial=policy.backoff, max=policy.backoff_max, jitter=policy.backoff
            ),
            stop=stop,
            before_sleep=self._log_restart,
            reraise=True,
        )

    async def _run_once(self) -> None:
        """Start the child, serve until it dies; always raises :class:`ChildDied`."""
        self._died.clear()
        self._unanswered = 0
        client: Client[StdioTransport] = Client(
            StdioTransport(self.command[0], self.command[1:], self._env, self._cwd, True),
            message_handler=self._on_message,
        )
        started = time.monotonic()
        try:
            async with contextlib.AsyncExitStack() as stack:
                async with asyncio.timeout(self.start_timeout):
                    await stack.enter_async_context(client)
                    tools = await client.list_tools(cache_mode="bypass")
                self._client = client
                await self._publish(tools)
                self.up.set()
                log.info("%s is up, with %d tool(s)", self._program, len(tools))
                monitor = asyncio.create_task(self._monitor(), name="mesh-sidecar-monitor")
                try:
                    await self._died.wait()
                finally:
                    monitor.cancel()
                    await asyncio.gather(monitor, return_exceptions=True)
        except Exception as error:  # it could not start, or the connection broke
            reason = str(error) or type(error).__name__
            raise ChildDied(reason) from None
        finally:
            self.up.clear()
            self._client = None
            with contextlib.suppress(Exception):
                # Stops the process (stdin closed, then SIGTERM, then SIGKILL), boundedly.
                await within(client.close(), CLOSE_TIMEOUT)  # type: ignore[no-untyped-call]
        if time.monotonic() - started >= self.restart.stable_after:
            raise _StableChildDied("it stopped after a long run")
        raise ChildDied("it stopped")

    async def _monitor(self) -> None:
        """Probe at ``probe_interval``: a dead or hung child is noticed without a call."""
        while not self._died.is_set():
            await asyncio.sleep(self.probe_interval)
            await self.check()

    def _log_restart(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s died (%s): restarting in %.2f s", self._program, error, delay)

    @property
    def _program(self) -> str:
        return display_name(self.command)

    # -- what the sidecar asks -------------------------------------------------------------

    async def check(self) -> bool:
        """Whether the child is up and answers, within ``probe_timeout``.

        The question is a ``tools/list`` (the current protocol has no ``ping``); a changed
        answer is published, so a server that never announces changes is followed too.
        """
        client = self._client
        if client is None or not self.up.is_set():
            return False
        try:
            tools = await within(client.list_tools(cache_mode="bypass"), self.probe_timeout)
        except MCPError as error:
            if error.code == CONNECTION_CLOSED:  # the process is gone
                self._died.set()
            else:
                self._unanswered_once()
            return False
        except TimeoutError:
            self._unanswered_once()
            return False
        except Exception:  # the transport broke: the child is gone
            self._died.set()
            return False
        self._unanswered = 0
        if tools != self.tools:
            await self._publish(tools)
        return True

    def _unanswered_once(self) -> None:
        self._unanswered += 1
        if self._unanswered >= UNANSWERED_LIMIT:
            log.warning("%s does not answer: restarting it", self._program)
            self._died.set()

    async def call(self, name: str, arguments: dict[str, Any]) -> mcp_types.CallToolResult:
        """Call the child's tool ``name``; ``ToolError`` if the child is not up, does not
        answer within ``call_timeout``, or dies during the call."""
        client = self._client
        if client is None or not self.up.is_set():
            raise ToolError(f"{name}: the server is not running (it is being restarted)")
        try:
            return await within(client.call_tool_mcp(name, arguments), self.call_timeout)
        except TimeoutError:
            raise ToolError(f"{name}: no answer within {self.call_timeout:g} s") from None
        except Exception as error:
            if not await self.check():
                # A failed call and a failed probe: it is gone. Said at once, so that the
                # next call is told it is not running rather than tried on a dead pipe.
                self.up.clear()
                self._died.set()
                raise ToolError(f"{name}: the server stopped during the call") from None
            raise ToolError(f"{name}: {error}") from None

    async def get_prompt(self, name: str, arguments: dict[str, Any]) -> mcp_types.GetPromptResult:
        """The child's prompt ``name``; ``MCPError`` if it is not up or refuses."""
        client = self._up_client(name)
        answer: mcp_types.GetPromptResult = await within(
            client.get_prompt_mcp(name, arguments), self.call_timeout
        )
        return answer

    async def read_resource(self, uri: str) -> mcp_types.ReadResourceResult:
        """The child's resource at ``uri``; ``MCPError`` if it is not up or refuses."""
        client = self._up_client(uri)
        answer: mcp_types.ReadResourceResult = await within(
            client.read_resource_mcp(uri), self.call_timeout
        )
        return answer

    async def offerings(
        self,
    ) -> tuple[list[mcp_types.Prompt], list[mcp_types.Resource], list[mcp_types.ResourceTemplate]]:
        """The child's prompts, resources and resource templates (none of what it does not
        offer, or while it is not up)."""
        client = self._client
        if client is None:
            return [], [], []
        return (
            await self._listed(client.list_prompts()),
            await self._listed(client.list_resources()),
            await self._listed(client.list_resource_templates()),
        )

    async def _listed(self, listing: Awaitable[list[T]]) -> list[T]:
        """What ``listing`` answers; nothing if the child offers none of it (the method is
        not found), or fails to answer (that is the monitor's to notice)."""
        try:
            return await within(listing, self.probe_timeout * 3)
        except Exception:
            return []

    def _up_client(self, target: str) -> Client[StdioTransport]:
        client = self._client
        if client is None or not self.up.is_set():
            raise MCPError(-32603, f"{target}: the server is not running (it is being restarted)")
        return client

    # -- tools -----------------------------------------------------------------------------

    async def _on_message(self, message: Any) -> None:
        if isinstance(
            message,
            mcp_types.PromptListChangedNotification | mcp_types.ResourceListChangedNotification,
        ):
            task = asyncio.get_running_loop().create_task(self._publish(self.tools))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        if isinstance(message, mcp_types.ToolListChangedNotification):
            # Not in the handler itself: it runs in the session's receive loop, which must
            # keep going for tools/list to be answered.
            task = asyncio.get_running_loop().create_task(self._relist())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _relist(self) -> None:
        with contextlib.suppress(Exception):  # a failure is the monitor's to notice
            await self.check()

    async def _publish(self, tools: list[mcp_types.Tool]) -> None:
        self.tools = tools
        await self._on_tools(tools)
