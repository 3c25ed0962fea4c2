"""A Python agent that serves WebAssembly tools beside a Python one."""

from pathlib import Path

from mesh_agent import MeshAgent

agent = MeshAgent()


@agent.tool(capabilities=["math.double"])
def double(x: int) -> int:
    """Twice x, in Python."""
    return 2 * x


agent.add_wasm(Path(__file__).resolve().parents[2] / "examples" / "wasm" / "arith")

if __name__ == "__main__":
    agent.run()
