"""Settings of the example project. Everything that differs between the emulators and real clouds is an env var.

| variable | meaning | default |
| --- | --- | --- |
| STORAGE_UPLOAD_MODE | s3, azure or both | both |
| DEMO_S3_BUCKET | bucket | media |
| DEMO_S3_ENDPOINT_URL | S3 endpoint (unset: AWS) | unset |
| DEMO_S3_REGION | region | us-east-1 |
| AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ... | S3 credentials: boto3's usual chain | |
| DEMO_AZURE_CONTAINER | container | media |
| AZURE_STORAGE_CONNECTION_STRING | a connection string (key-based) | unset |
| AZURE_STORAGE_ACCOUNT_URL / AZURE_STORAGE_ACCOUNT | the account, for Azure AD | unset |
| AZURE_STORAGE_KEY | an account key, with the account | unset |
| DEMO_HEALTH_INTERVAL | seconds between health probes | 5 |
| DEMO_REPAIR | the storage's repair option: task (a worker repairs what a save missed) or none | task |
| DEMO_MIRROR | the storage's mirror option: sync or background | sync |
| DEMO_URL_MODE | the storage's url_mode: direct (cloud URLs) or redirect (links to /files/) | direct |
| DEMO_REDIRECT_VERIFY | 1: redirect_verify (the view checks the object on the cloud first) | 0 |
| DEMO_DB_PATH | the SQLite file | example_project/db.sqlite3 |

``demo.py`` sets them for the local emulators (moto server and Azurite behind fault proxies), and runs the task
worker beside the site (``manage.py db_worker``: the repairs ``DEMO_REPAIR=task`` enqueues).
"""

import os
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-project-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", *filter(None, os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(","))]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Django's task framework: built in from Django 6.0, the django-tasks backport before; django-tasks-db is its
    # database backend and its worker (manage.py db_worker), which runs the repairs.
    *(["django_tasks"] if django.VERSION < (6, 0) else []),
    "django_tasks_db",
    "sorl.thumbnail",  # thumbnails of the bot's screenshots, stored through the same storage (both clouds)
    "multicloud_storage",
    "meetings",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "meetings.middleware.note_redirects",  # redirect mode: where each media link went, shown on the list page
]
ROOT_URLCONF = "demo_site.urls"
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
WSGI_APPLICATION = "demo_site.wsgi.application"
# SQLite, shared by the site and the task worker (two processes): wait for the other's lock instead of failing,
# and on Django >= 5.1 take the write lock when a transaction starts (no deadlock upgrading a read lock) in WAL
# mode (readers never wait for the writer).
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DEMO_DB_PATH", BASE_DIR / "db.sqlite3"),
        "OPTIONS": {
            "timeout": 20,
            **(
                {"transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
                if django.VERSION >= (5, 1)
                else {}
            ),
        },
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


_azure = {"azure_container": _env("DEMO_AZURE_CONTAINER", "media")}
if _env("AZURE_STORAGE_CONNECTION_STRING"):
    _azure["connection_string"] = _env("AZURE_STORAGE_CONNECTION_STRING")
else:
    _azure.update(account_url=_env("AZURE_STORAGE_ACCOUNT_URL"), account_name=_env("AZURE_STORAGE_ACCOUNT"))
    _azure.update(
        {"account_key": _env("AZURE_STORAGE_KEY")} if _env("AZURE_STORAGE_KEY") else {"token_credential": "default"}
    )

STORAGES = {
    "default": {
        "BACKEND": "multicloud_storage.MultiCloudStorage",
        "OPTIONS": {
            # "mode" is left out: the backend reads STORAGE_UPLOAD_MODE (default "both").
            "s3": {
                "bucket_name": _env("DEMO_S3_BUCKET", "media"),
                "endpoint_url": _env("DEMO_S3_ENDPOINT_URL"),
                "region_name": _env("DEMO_S3_REGION", "us-east-1"),
            },
            "azure": _azure,
            "health_check_interval": float(_env("DEMO_HEALTH_INTERVAL", "5")),
            "repair": _env("DEMO_REPAIR", "task"),  # "task": the worker copies what an outage left missing
            "mirror": _env("DEMO_MIRROR", "sync"),
            "url_mode": _env("DEMO_URL_MODE", "direct"),
            "redirect_base_url": "/files/",  # where urls.py mounts multicloud_storage.urls
            "redirect_verify": _env("DEMO_REDIRECT_VERIFY", "0") == "1",
        },
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# The repair tasks, on the database: the demo starts `manage.py db_worker` beside the site.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# sorl-thumbnail: thumbnails go to the default storage (both clouds); which exist is kept in its table (shared by
# every process), cached in CACHES["default"].
THUMBNAIL_KVSTORE = "sorl.thumbnail.kvstores.cached_db_kvstore.KVStore"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"multicloud_storage": {"handlers": ["console"], "level": "INFO"}},
}
