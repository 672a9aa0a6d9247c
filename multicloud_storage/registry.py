"""Which model fields hold a storage's files: found in the app registry, for the repair and the health command."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models.fields.files import FileField
from django.utils.functional import LazyObject, empty


@dataclass(frozen=True)
class MirroredField:
    model: type[models.Model]
    field: FileField
    column: str  # the attname of its MirrorLocationField

    @property
    def label(self) -> str:
        return f"{self.model._meta.label}.{self.field.name}"

    def rows(self) -> models.QuerySet[Any]:
        """Rows that have a file."""
        manager = self.model._base_manager
        rows = manager.exclude(**{self.field.attname: ""}).exclude(**{f"{self.field.attname}__isnull": True})
        return cast("models.QuerySet[Any]", rows)


def unwrap(storage: Any) -> Any:
    if isinstance(storage, LazyObject):
        if storage._wrapped is empty:
            storage._setup()
        return storage._wrapped
    return storage


def mirrored_fields(storage: Any, model_labels: list[str] | None = None) -> list[MirroredField]:
    """The file fields stored in ``storage`` that have a MirrorLocationField, optionally of these models only."""
    wanted = None
    if model_labels:
        wanted = set()
        for label in model_labels:
            try:
                wanted.add(apps.get_model(label))
            except (LookupError, ValueError) as exc:
                raise ImproperlyConfigured(f"Unknown model {label!r} (use app_label.ModelName).") from exc
    found = []
    for model in apps.get_models():
        if wanted is not None and model not in wanted:
            continue
        for field in model._meta.local_fields:
            column = getattr(field, "_mirror_location_attname", None)
            if isinstance(field, FileField) and column and unwrap(field.storage) is storage:
                found.append(MirroredField(model, field, column))
    return found
