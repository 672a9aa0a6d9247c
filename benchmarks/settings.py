"""Django settings for the benchmarks: the test suite's, with a database file that every thread shares.

The library writes repair bookkeeping to the database during saves, so the benchmarks migrate a real one
(an in-memory SQLite database is private to each thread). One file per process, removed at exit.
"""

import os
import tempfile

from tests.settings import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(tempfile.gettempdir(), f"multicloud-bench-{os.getpid()}.sqlite3"),
    }
}
