"""Admin pieces: a list filter by mirror state, an action that repairs the selected rows, and the repair backlog.

from multicloud_storage.admin import MirrorLocationsFilter, repair_mirrors

@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    list_filter = [MirrorLocationsFilter]
    actions = [repair_mirrors]
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.db.models import Model, Q, QuerySet
from django.db.models.fields.files import FileField
from django.http import HttpRequest

from .models import MissingReplica, PendingDelete
from .registry import MirroredField, unwrap
from .storage import MultiCloudStorage


def _mirrored(model: type[Model]) -> list[tuple[MirroredField, MultiCloudStorage]]:
    """The model's file fields that have a MirrorLocationField and live in a MultiCloudStorage."""
    found = []
    for field in model._meta.local_fields:
        column = getattr(field, "_mirror_location_attname", None)
        storage = unwrap(getattr(field, "storage", None))
        if column and isinstance(storage, MultiCloudStorage):
            found.append((MirroredField(model, cast(FileField, field), column), storage))
    return found


class MirrorLocationsFilter(admin.SimpleListFilter):
    """Filter rows by the copies their MirrorLocationField columns record (any of them, for several files)."""

    title = "mirror copies"
    parameter_name = "mirror_copies"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("complete", "every copy"),
            ("missing_s3", "missing S3"),
            ("missing_azure", "missing Azure"),
            ("unknown", "unknown"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        value = self.value()
        if not value:
            return queryset
        conditions = []
        for mirrored, storage in _mirrored(queryset.model):
            has_file = ~Q(**{mirrored.field.attname: ""}) & Q(**{f"{mirrored.field.attname}__isnull": False})
            known = Q(**{f"{mirrored.column}__isnull": False})
            if value == "unknown":
                conditions.append(has_file & ~known)
            elif value.startswith("missing_"):
                cloud = value[len("missing_") :]
                if cloud in storage.clouds:
                    conditions.append(has_file & known & ~Q(**{f"{mirrored.column}__contains": cloud}))
            elif value == "complete":
                every = known
                for cloud in storage.clouds:
                    every &= Q(**{f"{mirrored.column}__contains": cloud})
                conditions.append(~has_file | every)
        if not conditions:
            return cast("QuerySet[Any]", queryset.none())
        combined = conditions[0]
        for condition in conditions[1:]:
            combined = combined & condition if value == "complete" else combined | condition
        return cast("QuerySet[Any]", queryset.filter(combined))


@admin.action(description="Repair the selected rows' mirror copies")
def repair_mirrors(modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]) -> None:
    """The same per-row repair as ``manage.py multicloud_sync``, for the selected rows."""
    from .repair import repair_row

    rows = copies = 0
    problems = []
    for mirrored, storage in _mirrored(queryset.model):
        for pk in queryset.values_list("pk", flat=True):
            row = repair_row(storage, mirrored, pk)
            if row is None:
                continue
            rows += 1
            copies += len(row.file.copied)
            if row.file.lost:
                problems.append(f"{row.name}: lost (in no cloud)")
            for cloud, why in {**row.file.divergent, **row.file.errors}.items():
                problems.append(f"{row.name}: {cloud}: {why}")
            for cloud in sorted(row.file.unreachable):
                problems.append(f"{row.name}: {cloud} did not answer")
    summary = f"Checked {rows} file{'s' * (rows != 1)}, made {copies} cop{'ies' if copies != 1 else 'y'}."
    if problems:
        modeladmin.message_user(request, summary + " Left to do: " + "; ".join(problems[:20]), messages.WARNING)
    else:
        modeladmin.message_user(request, summary + " Every copy is in place.", messages.SUCCESS)


class _ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display: tuple[str, ...] = ("name", "cloud", "reason", "created_at")
    list_filter = ("cloud",)
    search_fields = ("name",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PendingDelete)
class PendingDeleteAdmin(_ReadOnly):
    list_display = ("name", "cloud", "reason", "written_before", "created_at")


@admin.register(MissingReplica)
class MissingReplicaAdmin(_ReadOnly):
    pass
