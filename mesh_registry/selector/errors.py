"""The one error type of the selector package."""

from __future__ import annotations


class SelectorError(ValueError):
    """A label selector that cannot be parsed or built.

    ``position`` is the 0-based character offset in the selector text where the problem was
    found (``None`` for selectors built from structured input, where ``field`` names the part
    instead); ``reason`` says what is wrong.
    """

    def __init__(
        self,
        reason: str,
        *,
        text: str | None = None,
        position: int | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.text = text
        self.position = position
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.text is not None:
            where.append(f"selector {self.text!r}")
        if self.position is not None:
            where.append(f"position {self.position}")
        if self.field is not None:
            where.append(self.field)
        prefix = ", ".join(where)
        return f"{prefix}: {self.reason}" if prefix else self.reason
