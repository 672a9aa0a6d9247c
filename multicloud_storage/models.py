"""The app's one model: copies that a delete could not remove, for the repair command to finish."""

from __future__ import annotations

from django.db import models


class PendingDelete(models.Model):
    cloud = models.CharField(max_length=16)
    name = models.CharField(max_length=1024)
    reason = models.CharField(max_length=500, blank=True)  # secret-free (see exceptions.describe)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cloud", "name"], name="multicloud_pending_delete_unique")]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"delete {self.name!r} from {self.cloud}"
