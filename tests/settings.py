"""Django settings for the test suite. The storage OPTIONS are installed per test by the fixtures."""

import os

import django

SECRET_KEY = "tests-only-not-a-secret"
DEBUG = False
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "multicloud_storage",
    "tests.testapp",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
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
