"""Repair and background mirroring on Django's task framework: ``django.tasks`` on Django >= 6.0, the
``django-tasks`` backport before (``pip install multicloud-storage[tasks]``). Any backend with a worker will do:
database (django-tasks-db), RQ (django-tasks-rq), Celery...

A save that left a cloud of the mode without a copy, and a delete that left a copy behind, enqueue
``repair_file`` once the caller's transaction commits. The task runs where no storage was used yet: it finds the
storage by its STORAGES alias and the row by model label and primary key, probes the clouds itself (a shared
verdict may be minutes old), does the same per-file repair as ``multicloud_sync``, and enqueues itself again
with backoff while a cloud is still down.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from django.db import router, transaction
from django.utils import timezone

try:
    from django.tasks import task  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # Django < 6.0: the backport
    from django_tasks import task  # type: ignore[no-redef, import-not-found, unused-ignore]

logger = logging.getLogger("multicloud_storage")
BACKOFF = (10, 30, 120, 300, 900, 1800, 3600)  # seconds before the next try while a cloud is down


def _storage(alias: str) -> Any:
    from django.core.files.storage import default_storage, storages

    from .registry import unwrap
    from .storage import MultiCloudStorage

    storage = unwrap(default_storage) if alias == "default" else storages[alias]
    if not isinstance(storage, MultiCloudStorage):
        raise TypeError(f"STORAGES[{alias!r}] is not a MultiCloudStorage")
    return storage


@task()
def repair_file(
    storage_alias: str,
    name: str,
    model: str | None = None,
    pk: Any = None,
    field: str | None = None,
    attempt: int = 0,
) -> dict[str, Any]:
    """Finish the pending deletes of ``name``, then give every cloud of the mode a verified copy of it (and the
    row's column, when a row is named, the clouds that hold it). Enqueues itself again while work is left."""
    from . import repair
    from .registry import mirrored_fields

    storage = _storage(storage_alias)
    down = sorted(cloud for cloud, health in storage.health.items() if not health.probe_now())
    repair.finish_pending_deletes(storage, skip=down, name=name, include_unscoped=storage_alias == "default")
    left = bool(down)
    holders: list[str] = []
    if model is not None:
        wanted = [m for m in mirrored_fields(storage, [model]) if m.field.name == field]
        row = repair.repair_row(storage, wanted[0], pk, skip=down) if wanted else None
        if row is not None:
            holders = sorted(row.file.holders)
            left = left or not row.file.complete
    else:
        from .models import MissingReplica, PendingDelete

        scopes = list(storage.scopes.values())
        if MissingReplica.objects.filter(scope__in=scopes, name=name).exists():
            file = repair.repair_file(storage, name, skip=down)
            holders = sorted(file.holders)
            left = left or not file.complete
        left = left or PendingDelete.objects.filter(scope__in=scopes, name=name).exists()
    if left:
        delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
        logger.info(
            "Repair of %r not finished (clouds down: %s); retrying in %d s.", name, ", ".join(down) or "none", delay
        )
        repair_file.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(
            storage_alias, name, model, pk, field, attempt + 1
        )
    return {"name": name, "holders": holders, "down": down, "finished": not left, "attempt": attempt}


def schedule_repair(
    storage: Any, name: str, model: str | None = None, pk: Any = None, field: str | None = None
) -> None:
    """Enqueue ``repair_file`` once the current transaction commits (at once outside one)."""
    alias = storage.alias
    if alias is None:
        logger.warning(
            "Cannot enqueue the repair of %r: the storage is not configured in STORAGES (it stays "
            "recorded for manage.py multicloud_sync).",
            name,
        )
        return
    pk = json.loads(json.dumps(pk, default=str))  # task arguments are JSON

    def enqueue() -> None:
        try:
            repair_file.enqueue(alias, name, model, pk, field, 0)
        except Exception as exc:  # noqa: BLE001 - the work stays recorded for multicloud_sync
            from .exceptions import describe

            logger.error(
                "Could not enqueue the repair of %r (it stays recorded for multicloud_sync): %s", name, describe(exc)
            )

    from .models import MissingReplica

    transaction.on_commit(enqueue, using=router.db_for_write(MissingReplica))
