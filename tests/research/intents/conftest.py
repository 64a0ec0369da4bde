"""The labelled intent examples are shared with the classifier's tests (tests/intents)."""

from tests.intents.conftest import fixtures

__all__ = ["fixtures"]
