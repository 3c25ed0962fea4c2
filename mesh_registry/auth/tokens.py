"""The tokens file, and authenticating a bearer token against it.

```yaml
tokens:
  - subject: weather-eu
    token: "a long random string"        # or sha256: <hex digest of it>
    namespaces: {default: agent, prod: reader}
    capabilities: ["weather.*"]          # optional: what its records may claim
```

JSON works too (it is YAML). Tokens are kept only as SHA-256 digests, and a presented token is
looked up by its digest: the comparison never runs over the secret itself. A file that fails to
load is refused as a whole, naming the entry and field.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mesh_registry import validation
from mesh_registry.auth.principal import EVERY_NAMESPACE, Principal, Role

log = logging.getLogger(__name__)

_MIN_TOKEN_LENGTH = 16


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class _TokenSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: str = Field(min_length=1, max_length=253)
    token: str | None = Field(default=None, min_length=_MIN_TOKEN_LENGTH)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    namespaces: dict[str, str] = Field(min_length=1)
    capabilities: list[str] | None = None

    @field_validator("namespaces")
    @classmethod
    def _valid_namespaces(cls, namespaces: dict[str, str]) -> dict[str, str]:
        for namespace, role in namespaces.items():
            if namespace != EVERY_NAMESPACE:
                problems = validation.dns1123_label_errors(namespace)
                if problems:
                    raise ValueError(f"invalid namespace {namespace!r}: {problems[0]}")
            Role.parse(role)
        return namespaces

    @model_validator(mode="after")
    def _one_secret(self) -> _TokenSpec:
        if (self.token is None) == (self.sha256 is None):
            raise ValueError("give exactly one of token and sha256")
        return self

    def principal(self) -> tuple[str, Principal]:
        hashed = self.sha256.lower() if self.sha256 else digest(self.token or "")
        roles = {ns: Role.parse(role) for ns, role in self.namespaces.items()}
        capabilities = None if self.capabilities is None else tuple(self.capabilities)
        return hashed, Principal(self.subject, roles, capabilities, token_id=hashed[:12])


class _TokensFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens: list[_TokenSpec]


class TokenTable:
    """Principals by the digest of their token."""

    def __init__(self, entries: Iterable[tuple[str, Principal]] = ()) -> None:
        self._by_digest: dict[str, Principal] = {}
        for hashed, principal in entries:
            if hashed in self._by_digest:
                raise ValueError(f"tokens file: the token of {principal.subject!r} is listed twice")
            self._by_digest[hashed] = principal
        self._by_id = {p.token_id: p for p in self._by_digest.values()}

    @classmethod
    def parse(cls, document: Any) -> TokenTable:
        """A table from a parsed tokens file; ``ValueError`` naming the bad entry and field."""
        try:
            parsed = _TokensFile.model_validate(document)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ValueError(f"tokens file: {where}: {first['msg']}") from None
        return cls(spec.principal() for spec in parsed.tokens)

    @classmethod
    def load(cls, path: str | Path) -> TokenTable:
        try:
            text = Path(path).read_text()
        except OSError as error:
            raise ValueError(f"tokens file {path}: {error.strerror or error}") from None
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ValueError(f"tokens file {path}: not YAML or JSON: {_where(error)}") from None
        return cls.parse(document)

    def principal(self, token: str) -> Principal | None:
        return self._by_digest.get(digest(token))

    def __contains__(self, principal: Principal) -> bool:
        return self._by_id.get(principal.token_id) == principal

    def __len__(self) -> int:
        return len(self._by_digest)


def _where(error: yaml.YAMLError) -> str:
    """Where the file fails to parse, and the parser's description of the problem; never the
    text of the line, which may hold a token."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or "unreadable"
    if mark is None:
        return str(problem)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"


class Authenticator:
    """The current token table, from a file that can be reloaded while serving (SIGHUP)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._table = TokenTable.load(self.path)

    def authenticate(self, token: str | None) -> Principal | None:
        if not token:
            return None
        return self._table.principal(token)

    def still_valid(self, principal: Principal) -> bool:
        """Whether the token ``principal`` came from is still in the table, unchanged."""
        return not principal.authenticated or principal in self._table

    def reload(self) -> bool:
        """Read the file again; on any error keep the current table (and say why). The new
        table replaces the old one in one assignment: a request sees one or the other."""
        try:
            table = TokenTable.load(self.path)
        except ValueError as error:
            log.error("tokens not reloaded, the previous ones stay in force: %s", error)
            return False
        self._table = table
        log.info("tokens reloaded from %s: %d tokens", self.path, len(table))
        return True
