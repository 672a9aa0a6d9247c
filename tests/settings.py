"""Django settings for the test suite. The storage OPTIONS are installed per test by the fixtures."""

import os
import tempfile

import django

SECRET_KEY = "tests-only-not-a-secret"
DEBUG = False
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "multicloud_storage",
    "tests.testapp",
    # Tasks on a real worker: django.tasks (Django >= 6.0) or the backport, the database backend, and RQ.
    *(["django_tasks"] if django.VERSION < (6, 0) else []),
    "django_tasks_db",
    "django_rq",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
# The test database is a file, not :memory:, so that threads and worker processes (the sync command's workers,
# db_worker) share it with real locking; one per test process (tox runs environments in parallel). A subprocess
# of a test gets that file's path in MULTICLOUD_TEST_DB.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("MULTICLOUD_TEST_DB", ":memory:"),
        "TEST": {"NAME": os.path.join(tempfile.gettempdir(), f"multicloud-tests-{os.getpid()}.sqlite3")},
        "OPTIONS": {"timeout": 20},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
LOGGING_CONFIG = None

# Django 4.2 can be configured the old way: tox's django42 environment sets MULTICLOUD_LEGACY_SETTINGS=1.
LEGACY = os.environ.get("MULTICLOUD_LEGACY_SETTINGS") == "1"
if LEGACY:
    assert django.VERSION < (5, 1), "DEFAULT_FILE_STORAGE only exists up to Django 5.0"
    DEFAULT_FILE_STORAGE = "multicloud_storage.MultiCloudStorage"
    # Replaced per test by the fixtures; complete so that `manage.py check` is clean.
    MULTICLOUD_STORAGE = {
        "mode": "both",
        "s3": {"bucket_name": "unset"},
        "azure": {"azure_container": "unset", "account_name": "devstoreaccount1", "account_key": "unset"},
    }
else:
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

# Shared state and tasks. The fixtures start a real redis-server and put its URL in MULTICLOUD_TEST_REDIS.
REDIS_URL = os.environ.get("MULTICLOUD_TEST_REDIS", "redis://127.0.0.1:1/0")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "shared": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL},
}
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
if os.environ.get("MULTICLOUD_TEST_TASKS") == "rq":
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
RQ_QUEUES = {"default": {"URL": REDIS_URL}}

# A subprocess of a test (a task worker, a web process) gets the test's storage options in MULTICLOUD_TEST_STORAGE.
if os.environ.get("MULTICLOUD_TEST_STORAGE"):
    import json

    _OPTIONS = json.loads(os.environ["MULTICLOUD_TEST_STORAGE"])
    if LEGACY:
        MULTICLOUD_STORAGE = _OPTIONS
    else:
        STORAGES = {
            "default": {"BACKEND": "multicloud_storage.MultiCloudStorage", "OPTIONS": _OPTIONS},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }

# The drop-in tests (issue 12): third-party apps of django-storages projects, against the emulators.
# django-cleanup runs in select mode (only models marked @cleanup.select), so no other test loses files to it.
INSTALLED_APPS += ["rest_framework", "sorl.thumbnail", "tests.apps3rd", "django_cleanup.apps.CleanupSelectedConfig"]
THUMBNAIL_DEBUG = True  # sorl-thumbnail raises instead of rendering nothing
THUMBNAIL_KVSTORE = "sorl.thumbnail.kvstores.cached_db_kvstore.KVStore"  # its table, cached in CACHES["default"]
