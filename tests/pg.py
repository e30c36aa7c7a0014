"""PostgreSQL for the history store's tests: a schema of its own per test on ``HKC_TEST_PG_URL``.

Set ``HKC_TEST_PG_URL`` to an SQLAlchemy URL of a database the tests may create schemas in, e.g.
``postgresql+psycopg://postgres@/hkc_test?host=/tmp/pg`` (``.ci/run`` starts a throwaway server
and sets it).  Without it the PostgreSQL tests skip, except under CI (``CI`` set), where they fail:
the SQLAlchemy path is proven on a real server there, never assumed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

PG_URL_ENV = "HKC_TEST_PG_URL"
PG_MISSING = (f"{PG_URL_ENV} is not set: the history store's PostgreSQL tests need a server "
              "(e.g. postgresql+psycopg://postgres@/hkc_test?host=/tmp/pg); .ci/run starts one")


def pg_url() -> str:
    """The server's URL; skips the test without one, and fails it under CI."""
    url = os.environ.get(PG_URL_ENV, "").strip()
    if not url:
        if os.environ.get("CI"):
            pytest.fail(PG_MISSING)
        pytest.skip(PG_MISSING)
    return url


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """A URL whose tables live in a new, empty schema; the schema and its connections go afterwards."""
    name = f"hkc_test_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(url)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    except sa.exc.SQLAlchemyError as exc:
        admin.dispose()
        pytest.fail(f"{PG_URL_ENV}: cannot create a schema on the server ({str(exc).splitlines()[0]})")
    # the schema first on the search path; the application name marks this test's connections
    own = sa.engine.make_url(url).update_query_dict({"options": f"-csearch_path={name}", "application_name": name})
    try:
        yield own.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE application_name = :name AND pid <> pg_backend_pid()"), {"name": name})
            conn.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
        admin.dispose()
