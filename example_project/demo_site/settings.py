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
| DEMO_DB_PATH | the SQLite file | example_project/db.sqlite3 |

``demo.py`` sets them for the local emulators (moto server and Azurite behind fault proxies).
"""

import os
from pathlib import Path

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
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("DEMO_DB_PATH", BASE_DIR / "db.sqlite3")}
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
        },
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"multicloud_storage": {"handlers": ["console"], "level": "INFO"}},
}
