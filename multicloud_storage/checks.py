"""`manage.py check` messages (multicloud_storage.E0xx / W0xx), found without contacting any cloud."""

from __future__ import annotations

from typing import Any

import django
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from . import conf

BACKEND = "multicloud_storage.MultiCloudStorage"
_BACKENDS = {BACKEND, "multicloud_storage.storage.MultiCloudStorage"}


def _configured() -> list[tuple[str, dict[str, Any]]]:
    """(where, OPTIONS) of every MultiCloudStorage configured in STORAGES or DEFAULT_FILE_STORAGE."""
    found = []
    for alias, entry in (getattr(settings, "STORAGES", None) or {}).items():
        if entry.get("BACKEND") in _BACKENDS:
            found.append((f"STORAGES[{alias!r}]", entry.get("OPTIONS") or {}))
    if django.VERSION < (5, 1) and getattr(settings, "DEFAULT_FILE_STORAGE", None) in _BACKENDS:
        found.append(("DEFAULT_FILE_STORAGE", {}))
    return found


@register(Tags.compatibility)
def check_default_file_storage(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if django.VERSION >= (5, 1) and getattr(settings, "DEFAULT_FILE_STORAGE", None):
        return [
            Warning(
                "DEFAULT_FILE_STORAGE is set, but Django >= 5.1 ignores it.",
                hint=f'Configure STORAGES = {{"default": {{"BACKEND": "{BACKEND}", "OPTIONS": {{...}}}}}}.',
                id="multicloud_storage.W001",
            )
        ]
    return []


@register()
def check_options(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for where, options in _configured():
        for problem in conf.find_problems(conf.merge(options)):
            level = Error if problem.is_error else Warning
            messages.append(level(f"{where}: {problem.msg}", hint=problem.hint or None, id=problem.id))
    return messages
