"""Helpers the drop-in tests share (tests/test_dropin_*.py): settings switches, images, the sync command, sorl."""

from __future__ import annotations

import io
import json
import urllib.parse

from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.management import call_command
from django.utils.functional import empty
from PIL import Image

from tests.conftest import forget_default_storage

# The test options' short timeouts (conftest.Env.options), for storages built from explicit OPTIONS.
FAST = {"health_check_interval": 0.5, "connect_timeout": 1.0, "read_timeout": 2.0, "probe_timeout": 1.0}


def use_backend(settings, backend: str, options: dict | None = None) -> None:
    """BACKEND (and OPTIONS) of the default storage, as a project's settings.py says it."""
    if getattr(django_settings, "LEGACY", False):  # Django 4.2 configured the old way
        settings.DEFAULT_FILE_STORAGE = backend
        if options is not None:
            settings.MULTICLOUD_STORAGE = options
        forget_storage_backends()  # Django 4.2 does not reread DEFAULT_FILE_STORAGE when it changes
    else:
        entry = {"BACKEND": backend, **({"OPTIONS": options} if options is not None else {})}
        settings.STORAGES = {
            "default": entry,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    forget_default_storage()


def plain_s3_settings(env, settings) -> None:
    """django-storages' S3Storage configured by its AWS_* settings, on the test's bucket."""
    settings.AWS_STORAGE_BUCKET_NAME = env.bucket
    settings.AWS_S3_ENDPOINT_URL = f"http://127.0.0.1:{env.s3_proxy.port}"
    settings.AWS_S3_ACCESS_KEY_ID = settings.AWS_S3_SECRET_ACCESS_KEY = "testing"
    settings.AWS_S3_REGION_NAME = "us-east-1"


def sync_json(*args: str) -> dict:
    """manage.py multicloud_sync --json; returns only when everything is mirrored (exit 0)."""
    out = io.StringIO()
    call_command("multicloud_sync", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def port(url: str) -> int | None:
    return urllib.parse.urlsplit(url).port


def png(width: int = 320, height: int = 240, color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


def image_size(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def reset_sorl() -> None:
    """sorl-thumbnail keeps module-level handles on the storage and caches its KVStore: forget them."""
    from sorl.thumbnail import default, images

    cache.clear()  # the cached_db KVStore caches its rows in CACHES["default"]
    default.storage._wrapped = empty
    if hasattr(images, "get_or_create_storage"):  # sorl >= 13 memoizes storages by alias
        images.get_or_create_storage.cache_clear()


def forget_storage_backends() -> None:
    """Make Django read STORAGES / DEFAULT_FILE_STORAGE again (it caches them); lazily, at the next access."""
    from django.core.files.storage import storages

    storages.__dict__.pop("backends", None)
    storages._backends = None
    forget_default_storage()
