"""MirrorLocationField: the one column that records which clouds hold a row's file.

It hooks the FileField it names: that field's FieldFile records the clouds on every save (through
``Model.objects.create(file=...)`` and ``instance.file.save(...)`` alike) and hands them to the
storage in ``.url``, ``.open()`` and ``.size``, so no URL ever points at a copy that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django.core import checks
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.fields.files import FieldFile, FileField
from django.db.models.signals import class_prepared, post_save

from .conf import CLOUDS
from .storage import MultiCloudStorage


class MirrorLocations(frozenset):  # type: ignore[type-arg]
    """The set of clouds (``"s3"``, ``"azure"``) that hold a copy."""

    def __str__(self) -> str:
        return ", ".join(sorted(self)) or "none"

    def __repr__(self) -> str:
        return f"MirrorLocations({sorted(self)!r})"


def _parse(value: Any) -> MirrorLocations | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, Iterable):
        raise ValidationError(f"Mirror locations must be a set of cloud names, not {value!r}.")
    locations = MirrorLocations(value)
    unknown = sorted(set(locations) - set(CLOUDS))
    if unknown:
        raise ValidationError(f"Unknown cloud name(s) {unknown!r}; the clouds are {list(CLOUDS)!r}.")
    return locations


class MirroredFileMixin:
    """FieldFile behaviour for a file field that has a MirrorLocationField."""

    field: FileField
    instance: models.Model
    storage: Any
    name: str | None
    _committed: bool

    def _locations(self) -> MirrorLocations | None:
        return cast("MirrorLocations | None", getattr(self.instance, self.field._mirror_location_attname))

    def _kwargs(self) -> dict[str, Any]:
        return {"locations": self._locations()} if isinstance(self.storage, MultiCloudStorage) else {}

    @property
    def url(self) -> str:
        self._require_file()  # type: ignore[attr-defined]
        return str(self.storage.url(self.name, **self._kwargs()))

    @property
    def size(self) -> int:
        self._require_file()  # type: ignore[attr-defined]
        if not self._committed:
            return int(self.file.size)
        return int(self.storage.size(self.name, **self._kwargs()))

    def _get_file(self) -> Any:
        self._require_file()  # type: ignore[attr-defined]
        if getattr(self, "_file", None) is None:
            self._file = self.storage.open(self.name, "rb", **self._kwargs())
        return self._file

    file = property(_get_file, FieldFile._set_file, FieldFile._del_file)  # type: ignore[attr-defined]

    def open(self, mode: str = "rb") -> Any:
        self._require_file()  # type: ignore[attr-defined]
        if getattr(self, "_file", None) is None:
            self.file = self.storage.open(self.name, mode, **self._kwargs())
        else:
            self.file.open(mode)
        return self

    open.alters_data = True  # type: ignore[attr-defined]

    def save(self, name: str, content: Any, save: bool = True) -> None:
        name = self.field.generate_filename(self.instance, name)
        if isinstance(self.storage, MultiCloudStorage):
            self.name, locations = self.storage.save_mirrored(
                name, content, max_length=self.field.max_length, schedule=False
            )
            # A copy left to make is enqueued once the row exists (post_save), by model and primary key; noted on
            # the instance, since the FieldFile is rebuilt from the name after a save.
            if self.storage.uses_tasks and set(self.storage.clouds) - locations:
                self.instance.__dict__.setdefault(_REPAIRS_DUE, {})[self.field.name] = self.name
        else:
            self.name, locations = self.storage.save(name, content, max_length=self.field.max_length), None
        setattr(self.instance, self.field.attname, self.name)
        setattr(self.instance, self.field._mirror_location_attname, _parse(locations))
        self._committed = True
        if save:
            self.instance.save()

    save.alters_data = True  # type: ignore[attr-defined]

    def delete(self, save: bool = True) -> None:
        super().delete(save=False)  # type: ignore[misc]
        setattr(self.instance, self.field._mirror_location_attname, None)
        if save:
            self.instance.save()

    delete.alters_data = True  # type: ignore[attr-defined]


_MIRRORED: dict[type, type] = {}
_REPAIRS_DUE = "_multicloud_repairs_due"  # on a model instance: {file field name: name} to enqueue after save


def _mirrored_class(base: type) -> type:
    """The FieldFile class (FieldFile, ImageFieldFile, ...) with the mirror behaviour; importable, so picklable."""
    if base not in _MIRRORED:
        name = f"Mirrored{base.__name__}"
        while name in globals():
            name += "_"
        cls = type(name, (MirroredFileMixin, base), {"__module__": __name__, "__qualname__": name})
        globals()[name] = _MIRRORED[base] = cls
    return _MIRRORED[base]


class MirrorLocationField(models.CharField):  # type: ignore[type-arg]  # its value is a MirrorLocations
    """Which clouds hold the file of ``file_field``: a MirrorLocations set, or None (NULL) when unknown."""

    description = "Clouds holding a copy of a file"

    def __init__(self, *args: Any, file_field: str, **kwargs: Any) -> None:
        self.file_field = file_field
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("default", None)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        for key, default in (
            ("max_length", 32),
            ("null", True),
            ("blank", True),
            ("editable", False),
            ("default", None),
        ):
            if kwargs.get(key, default) == default:
                kwargs.pop(key, None)
        kwargs["file_field"] = self.file_field
        return name, path, args, kwargs

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        target = self._target()
        if target is None:
            errors.append(
                checks.Error(
                    f"MirrorLocationField file_field={self.file_field!r} does not name a FileField of "
                    f"{self.model._meta.label}.",
                    obj=self,
                    id="multicloud_storage.E011",
                )
            )
        elif target.model is not self.model:
            errors.append(
                checks.Error(
                    f"MirrorLocationField file_field={self.file_field!r} names a field of the parent model "
                    f"{target.model._meta.label}, inherited through multi-table inheritance.",
                    hint=f"Declare the MirrorLocationField on {target.model._meta.label}, next to its file field.",
                    obj=self,
                    id="multicloud_storage.E017",
                )
            )
        elif getattr(target, "_mirror_location_attname", self.attname) != self.attname:
            errors.append(
                checks.Error(
                    f"{target.name!r} already has a MirrorLocationField.", obj=self, id="multicloud_storage.E012"
                )
            )
        return errors

    def _target(self) -> FileField | None:
        try:
            field = self.model._meta.get_field(self.file_field)
        except Exception:
            return None
        return field if isinstance(field, FileField) else None

    def link(self) -> None:
        target = self._target()
        # A parent's field (multi-table inheritance) is never patched: its rows have no such column (E017).
        if target is not None and target.model is self.model and not hasattr(target, "_mirror_location_attname"):
            target._mirror_location_attname = self.attname  # type: ignore[attr-defined]
            target.attr_class = _mirrored_class(target.attr_class)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> MirrorLocations | None:
        return _parse(value)

    def to_python(self, value: Any) -> MirrorLocations | None:
        return _parse(value)

    def get_prep_value(self, value: Any) -> str | None:
        locations = _parse(value)
        return None if locations is None else ",".join(sorted(locations))

    def value_to_string(self, obj: models.Model) -> str:
        return self.get_prep_value(self.value_from_object(obj)) or ""

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        # The file is stored (and this column filled) by the FileField's pre_save: make sure it ran first.
        target = self._target()
        if target is not None:
            file = getattr(model_instance, target.attname)
            if not file:
                setattr(model_instance, self.attname, None)  # no file (cleared): no copies to record
            elif not file._committed:
                target.pre_save(model_instance, add)
        return super().pre_save(model_instance, add)


def _link_mirror_fields(sender: type[models.Model], **kwargs: Any) -> None:
    linked = False
    for field in sender._meta.local_fields:
        if isinstance(field, MirrorLocationField):
            field.link()
            linked = True
    if linked:
        post_save.connect(_schedule_repairs, sender=sender, dispatch_uid=f"multicloud_storage.repairs.{id(sender)}")


def _schedule_repairs(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    """After a row with a missing copy is saved: enqueue its repair (repair="task", mirror="background")."""
    due = instance.__dict__.pop(_REPAIRS_DUE, None)
    if due:
        from .tasks import schedule_repair

        for field_name, name in due.items():
            storage = sender._meta.get_field(field_name).storage  # type: ignore[union-attr]
            schedule_repair(storage, name, sender._meta.label, instance.pk, field_name)


class_prepared.connect(_link_mirror_fields, dispatch_uid="multicloud_storage.link_mirror_fields")
