"""The agent the WASM benchmark calls: the same logic as WebAssembly tools and as Python tools."""

from pathlib import Path

from mesh_agent import MeshAgent

agent = MeshAgent()
agent.add_wasm(Path(__file__).resolve().parents[1] / "examples" / "wasm")


@agent.tool(capabilities=["py.add"])
def py_add(a: int, b: int) -> int:
    """add, in Python."""
    return (a + b + 2**31) % 2**32 - 2**31  # i32 arithmetic, as the module's


@agent.tool(capabilities=["py.fib"])
def py_fib(n: int) -> int:
    """fib, in Python."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, (a + b) % 2**64
    return a - 2**64 if a >= 2**63 else a


@agent.tool(capabilities=["py.echo"])
def py_echo(text: str) -> dict:
    """echo, in Python."""
    return {"echo": {"text": text}}


if __name__ == "__main__":
    agent.run()
