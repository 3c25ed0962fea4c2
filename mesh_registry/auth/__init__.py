"""Who is calling, and what they may do: principals, roles and the tokens file.

Pure: no HTTP here. The transports authenticate a request into a :class:`Principal`; the access
layer (``mesh_registry.access``) decides what that principal may do.
"""

from mesh_registry.auth.principal import ANONYMOUS, Principal, Role
from mesh_registry.auth.tokens import Authenticator, TokenTable

__all__ = ["ANONYMOUS", "Authenticator", "Principal", "Role", "TokenTable"]
