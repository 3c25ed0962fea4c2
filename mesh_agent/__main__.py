"""``python -m mesh_agent path/to/agent.py``: run the agent a file defines (see ``runner``)."""

from __future__ import annotations

import sys

from mesh_agent.runner import run


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m mesh_agent path/to/agent.py", file=sys.stderr)
        raise SystemExit(2)
    run(args[0])


if __name__ == "__main__":
    main()
