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


def _task_backend_problem() -> CheckMessage | None:
    """What is wrong with running repairs as tasks here; read from TASKS itself (the backport silently falls
    back to an immediate backend when TASKS is unset)."""
    try:
        import django.tasks  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
    except ImportError:
        try:
            import django_tasks  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
        except ImportError:
            return Error(
                "Tasks are not available: Django < 6.0 needs the django-tasks backport.",
                hint="pip install 'multicloud-storage[tasks]' and add 'django_tasks' to INSTALLED_APPS.",
                id="multicloud_storage.E020",
            )
    backend = ((getattr(settings, "TASKS", None) or {}).get("default") or {}).get("BACKEND", "")
    if not backend:
        return Error(
            "repair='task' or mirror='background' needs a task backend, and TASKS is not set.",
            hint='e.g. TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}} and its worker.',
            id="multicloud_storage.E020",
        )
    if backend.endswith("DummyBackend"):
        return Error(
            f"TASKS' default backend {backend} never runs tasks: repairs would never happen.",
            hint="Use a backend with a worker (database, RQ, ...).",
            id="multicloud_storage.E020",
        )
    if backend.endswith("ImmediateBackend"):
        return Warning(
            f"TASKS' default backend {backend} runs repairs inside the saving request, and cannot "
            "wait for a cloud to come back.",
            hint="Use a backend with a worker (database, RQ, ...).",
            id="multicloud_storage.W004",
        )
    return None


@register()
def check_tasks(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for where, options in _configured():
        merged = conf.merge(options)
        if merged.get("repair") == "task" or merged.get("mirror") == "background":
            problem = _task_backend_problem()
            if problem is not None:
                problem.msg = f"{where}: {problem.msg}"
                messages.append(problem)
    return messages


def _mounted(base_url: str) -> bool:
    """Whether the path of redirect_base_url reaches multicloud_storage.urls in ROOT_URLCONF (exactly there)."""
    from django.urls import Resolver404, resolve

    from . import redirect

    path = redirect.mount_path(base_url)
    script = (getattr(settings, "FORCE_SCRIPT_NAME", None) or "").rstrip("/")
    if script and path.startswith(script + "/"):
        path = path[len(script) :]
    try:
        match = resolve(f"{path}t/n", urlconf=getattr(settings, "ROOT_URLCONF", None))
    except Resolver404:
        return False
    except Exception:  # noqa: BLE001 - a broken URLconf is reported by Django's own checks
        return True
    return match.func is redirect.serve and match.kwargs == {"token": "t", "name": "n"}


@register(Tags.urls)
def check_redirect(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Redirect links need the view at redirect_base_url, and a storage Django knows by an alias."""
    from django.apps import apps
    from django.core.files.storage import default_storage
    from django.db.models import FileField

    from .storage import MultiCloudStorage

    messages: list[CheckMessage] = []
    for where, options in _configured():
        merged = conf.merge(options)
        base = merged.get("redirect_base_url")
        if merged.get("url_mode") == "redirect" and conf.valid_base_url(base) and not _mounted(base):
            messages.append(
                Warning(
                    f"{where}: url_mode='redirect', but multicloud_storage.urls is not reachable at {base!r}: "
                    "every link would answer 404.",
                    hint=f'Add path("{redirect_path_hint(base)}", include("multicloud_storage.urls")) to your URLconf.',
                    id="multicloud_storage.W003",
                )
            )
    for model in apps.get_models():
        for field in model._meta.local_fields:
            storage = getattr(field, "storage", None) if isinstance(field, FileField) else None
            if storage is None or storage is default_storage or not isinstance(storage, MultiCloudStorage):
                continue
            if storage.options.url_mode == "redirect" and storage.alias is None:
                messages.append(
                    Error(
                        f"{model._meta.label}.{field.name} uses a MultiCloudStorage in url_mode='redirect' that is "
                        "not configured in STORAGES: its links cannot name it.",
                        hint="Configure it in STORAGES and pass storage=lambda: storages['<alias>'] to the field.",
                        obj=field,
                        id="multicloud_storage.E022",
                    )
                )
    return messages


def redirect_path_hint(base_url: str) -> str:
    """The route to include the URLs at, for a hint: '/files/' -> 'files/'."""
    from . import redirect

    return redirect.mount_path(base_url).lstrip("/")
