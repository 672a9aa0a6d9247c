"""The app's durable records of work left for the repair: copies a save missed, copies a delete left behind.

``url()`` never reads them (no query per URL): the repair command, the repair tasks and the health command do.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from django.db import models
from django.utils import timezone


class RepairRecord(models.Model):
    """Work left for the repair on one name in one cloud (``scope``: which bucket or container)."""

    scope = models.CharField(max_length=40, blank=True, default="")  # bucket or container (conf.scope_of); "": 0.1.0
    cloud = models.CharField(max_length=16)
    name = models.CharField(max_length=1024)
    reason = models.CharField(max_length=500, blank=True)  # secret-free (see exceptions.describe)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["created_at"]

    @classmethod
    def record(cls, scope: str, cloud: str, name: str, reason: str, **defaults: Any) -> None:
        cls._default_manager.update_or_create(
            scope=scope, cloud=cloud, name=name, defaults={"reason": reason[:500], **defaults}
        )

    @classmethod
    def clear(cls, scopes: Collection[str], name: str) -> None:
        cls._default_manager.filter(scope__in=list(scopes), name=name).delete()


class MissingReplica(RepairRecord):
    """A cloud of the mode that lacks a copy a save should have written (the cloud was down, or failed)."""

    class Meta(RepairRecord.Meta):
        constraints = [
            models.UniqueConstraint(fields=["scope", "cloud", "name"], name="multicloud_missing_replica_unique")
        ]

    def __str__(self) -> str:
        return f"copy {self.name!r} to {self.cloud}"


class PendingDelete(RepairRecord):
    """A copy that a delete (or a failed save's clean-up) could not remove yet.

    The repair removes the copy only if it was last written before ``written_before``: a newer file saved
    under the same name is never deleted (and a successful save of the name clears the row at once).
    """

    written_before = models.DateTimeField(default=timezone.now)

    class Meta(RepairRecord.Meta):
        constraints = [
            models.UniqueConstraint(fields=["scope", "cloud", "name"], name="multicloud_pending_delete_unique")
        ]

    def __str__(self) -> str:
        return f"delete {self.name!r} from {self.cloud}"

    @classmethod
    def record(  # type: ignore[override]
        cls, scope: str, cloud: str, name: str, reason: str, written_before: datetime | None = None
    ) -> None:
        super().record(scope, cloud, name, reason, written_before=written_before or timezone.now())
