"""A registry process per module; each test's agents run in a namespace of their own."""

from tests.sdk.conftest import ns, registry, start_agent  # noqa: F401 - the same fixtures
