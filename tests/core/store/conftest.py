"""Store test fixtures (`clock`, `db_path`, `repo`), defined in tests/support/store.py."""

from tests.support.store import clock, db_path, repo  # noqa: F401  (re-exported fixtures)
