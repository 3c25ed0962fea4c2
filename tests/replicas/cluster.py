"""Registry replicas on one PostgreSQL database, as real processes, each on a port of its own
that it keeps across restarts (as a pod behind a service)."""

from __future__ import annotations

import random
import re
import signal

import httpx

from tests.support.processes import RegistryProcess, free_port

LEADING = re.compile(r"leading: deciding health \(term (\d+)\)")


class Cluster:
    def __init__(self, dsn: str, size: int, *options: str) -> None:
        self.dsn = dsn
        self.options = options
        self.ports = [free_port() for _ in range(size)]
        self.replicas: list[RegistryProcess | None] = [None] * size
        self.finished: list[RegistryProcess] = []  # replicas killed or stopped, for their logs

    def start(self, index: int | None = None) -> None:
        """Start one replica (ready to serve), or all of them."""
        indexes = range(len(self.ports)) if index is None else [index]
        started = [
            RegistryProcess("--db", self.dsn, "--port", str(self.ports[i]), *self.options)
            for i in indexes
        ]
        for i, replica in zip(indexes, started, strict=True):
            self.replicas[i] = replica.wait_ready()

    def kill(self, index: int, sig: int = signal.SIGKILL) -> None:
        replica = self.replicas[index]
        assert replica is not None
        replica.process.send_signal(sig)
        replica.wait_exit()
        self.replicas[index] = None
        self.finished.append(replica)

    def url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.ports[index]}"

    @property
    def urls(self) -> list[str]:
        return [self.url(i) for i in range(len(self.ports))]

    def live(self) -> list[int]:
        return [i for i, replica in enumerate(self.replicas) if replica is not None]

    def any_url(self, rng: random.Random | None = None) -> str:
        return self.url((rng or random).choice(self.live()))

    def leader(self) -> int | None:
        """The live replica that says it decides health, if one does."""
        for i in self.live():
            try:
                if httpx.get(self.url(i) + "/readyz", timeout=5).json().get("leader"):
                    return i
            except httpx.HTTPError:
                continue
        return None

    def terms(self) -> list[tuple[int, str]]:
        """Every term any replica said it led, with the replica's port, in log order."""
        found = []
        for replica in [*self.finished, *(r for r in self.replicas if r is not None)]:
            port = replica.args[replica.args.index("--port") + 1]
            found += [(int(m.group(1)), port) for m in map(LEADING.search, replica.lines) if m]
        return found

    def close(self) -> None:
        for index in self.live():
            self.kill(index)
