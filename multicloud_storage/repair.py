"""The repair: the one code path that makes every cloud of the mode hold a verified copy, and finishes deletes.

``repair_file(storage, name)`` looks for the file in every cloud, copies it from a holder to each cloud that
lacks it (streamed by ranges, create-if-absent, memory bounded whatever the size), verifies each copy, and
reports the clouds that hold a good copy. ``repair_row`` does that for a model row and updates its column with a
compare-and-set, so a row saved meanwhile is never overwritten with stale locations. ``finish_pending_deletes``
removes the copies deletes left behind, never a newer file saved under the same name. The ``multicloud_sync``
command, the repair tasks and the admin action all call these.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from .cloud import Fault, Stat
from .exceptions import describe
from .fanout import CloudSource, Upload, fan_out
from .fields import MirrorLocations
from .models import MissingReplica, PendingDelete
from .registry import MirroredField

logger = logging.getLogger("multicloud_storage")
VERIFY_LEVELS = ("exists", "size", "checksum")


@dataclass
class FileRepair:
    name: str
    holders: set[str] = field(default_factory=set)  # clouds holding a verified copy afterwards
    copied: dict[str, int] = field(default_factory=dict)  # cloud -> bytes copied (to be copied, in a dry run)
    unreachable: set[str] = field(default_factory=set)  # clouds of the mode that could not be checked
    divergent: dict[str, str] = field(default_factory=dict)  # cloud -> how its copy differs from the reference
    errors: dict[str, str] = field(default_factory=dict)  # cloud -> why a copy could not be made

    @property
    def lost(self) -> bool:
        """In no cloud, and every cloud answered: nothing left to copy from."""
        return not self.holders and not self.unreachable and not self.divergent

    @property
    def complete(self) -> bool:
        return not (self.unreachable or self.divergent or self.errors) and bool(self.holders)


class _Typed:
    """What ``write_options`` reads of a content: its type, kept from the source copy."""

    def __init__(self, content_type: str | None) -> None:
        self.content_type = content_type


def _stat_everywhere(storage: Any, name: str, clouds: Collection[str]) -> dict[str, Stat | None | str]:
    """cloud -> Stat, None (missing) or an error description (unreachable, or forbidden)."""
    answers, errors = storage._ask_every_cloud(lambda cloud: cloud.stat(name), clouds, even_down=True)
    result: dict[str, Stat | None | str] = dict(errors)
    for cloud, answer in answers.items():
        if isinstance(answer, Exception):
            missing = storage.clouds[cloud].classify(answer) is Fault.MISSING
            result[cloud] = None if missing else describe(answer)
        else:
            result[cloud] = answer
    return result


def md5_of(storage: Any, cloud: str, name: str, stat: Stat) -> bytes:
    """The cloud's own MD5 when it keeps one, else computed from the bytes as they stream by."""
    if stat.md5:
        return stat.md5
    digest = hashlib.md5(usedforsecurity=False)
    _, chunks = storage.clouds[cloud].open_stream(name)
    for chunk in chunks:
        digest.update(chunk)
    return digest.digest()


def copy_replica(storage: Any, name: str, source: str, target: str, stat: Stat) -> BaseException | None:
    """Copy ``name`` from ``source`` to ``target`` (create-if-absent); the error, or None when stored."""
    cloud = storage.clouds[target]
    reader = CloudSource(storage.clouds[source], name, stat.size)
    upload = Upload(
        cloud,
        name,
        cloud.write_options(name, _Typed(stat.content_type)),
        reader,
        create_only=True,
        timeouts=storage._timeouts,
    )
    outcome = fan_out(
        reader,
        [upload],
        failover_after=storage.options.failover_after,
        is_down=lambda c: not storage.health[c].is_up(),
        suspect=lambda c: storage.health[c].suspect(),
    )[target]
    storage._note(target, outcome.error)
    return outcome.error


def repair_file(
    storage: Any, name: str, *, verify: str = "size", dry_run: bool = False, skip: Collection[str] = ()
) -> FileRepair:
    """Make every cloud of the mode (but those in ``skip``) hold a verified copy of ``name``."""
    report = FileRepair(name, unreachable=set(skip) & set(storage.clouds))
    clouds = [cloud for cloud in storage.clouds if cloud not in skip]
    stats = _stat_everywhere(storage, name, clouds)
    present = {cloud: stat for cloud, stat in stats.items() if isinstance(stat, Stat)}
    for cloud, stat in stats.items():
        if isinstance(stat, str):
            report.unreachable.add(cloud)
    if not present:
        return report
    reference = next(cloud for cloud in storage.clouds if cloud in present)  # what URLs serve first
    ref = present[reference]
    report.holders.add(reference)
    reference_md5 = md5_of(storage, reference, name, ref) if verify == "checksum" else None
    for cloud, stat in present.items():
        if cloud == reference:
            continue
        difference = _difference(storage, name, cloud, stat, ref, reference_md5, verify)
        if difference:
            report.divergent[cloud] = difference
        else:
            report.holders.add(cloud)
    for target in (c for c in clouds if stats.get(c) is None):
        if dry_run:
            report.copied[target] = ref.size
            continue
        error = copy_replica(storage, name, reference, target, ref)
        if error is not None and storage.clouds[target].classify(error) is not Fault.EXISTS:
            report.errors[target] = describe(error)
            continue
        after = _stat_everywhere(storage, name, [target]).get(target)
        if not isinstance(after, Stat):
            report.errors[target] = f"no copy after the copy ({after or 'missing'})"
            continue
        difference = _difference(storage, name, target, after, ref, reference_md5, verify)
        if difference:  # a different file appeared under the name meanwhile: never overwritten
            report.divergent[target] = difference
            continue
        report.holders.add(target)
        if error is None:
            report.copied[target] = ref.size
    if not dry_run and report.holders:
        MissingReplica.clear([storage.scopes[c] for c in report.holders], name)
    return report


def _difference(storage: Any, name: str, cloud: str, stat: Stat, ref: Stat, ref_md5: bytes | None, verify: str) -> str:
    if verify in ("size", "checksum") and stat.size != ref.size:
        return f"{stat.size} bytes, the reference copy has {ref.size}"
    if verify == "checksum" and ref_md5 is not None and md5_of(storage, cloud, name, stat) != ref_md5:
        return "same size, different MD5"
    return ""


@dataclass
class RowRepair:
    model: str
    pk: Any
    name: str
    before: MirrorLocations | None
    after: MirrorLocations | None
    file: FileRepair
    updated: bool = False  # the column changed (False also when the row changed meanwhile)
    superseded: bool = False  # the row was saved meanwhile: its new state wins


def repair_row(
    storage: Any,
    mirrored: MirroredField,
    pk: Any,
    *,
    verify: str = "size",
    dry_run: bool = False,
    skip: Collection[str] = (),
) -> RowRepair | None:
    """Repair the file of one row and set its column to exactly the clouds holding it (compare-and-set)."""
    manager = mirrored.model._base_manager
    values = manager.filter(pk=pk).values_list(mirrored.field.attname, mirrored.column).first()
    if values is None or not values[0]:
        return None  # deleted meanwhile, or no file: nothing to do
    name, before = values
    report = repair_file(storage, name, verify=verify, dry_run=dry_run, skip=skip)
    mode = set(storage.clouds)
    checked = mode - report.unreachable
    if not report.holders or (before is None and report.unreachable):
        after = before  # never "fixed" by clearing; unknown stays unknown until every cloud answered
    elif before is None:
        after = MirrorLocations(report.holders)
    else:
        after = MirrorLocations((set(before) - checked) | (report.holders & checked))
    row = RowRepair(mirrored.model._meta.label, pk, name, before, after, report)
    if dry_run or after == before:
        return row
    condition: dict[str, Any] = {f"{mirrored.column}__isnull": True} if before is None else {mirrored.column: before}
    row.updated = manager.filter(pk=pk, **condition).update(**{mirrored.column: after}) == 1
    row.superseded = not row.updated
    return row


@dataclass
class DeleteOutcome:
    cloud: str
    name: str
    result: str  # "deleted" | "already gone" | "kept newer file" | "skipped: <why>"


def finish_pending_deletes(
    storage: Any,
    *,
    dry_run: bool = False,
    skip: Collection[str] = (),
    include_unscoped: bool = False,
    name: str | None = None,
) -> list[DeleteOutcome]:
    """Remove the copies deletes left behind (of every name, or of ``name``); a copy written after the delete
    was asked for is kept."""
    scopes = {storage.scopes[c]: c for c in storage.clouds if c not in skip}
    rows = PendingDelete.objects.filter(
        models.Q(scope__in=list(scopes))
        | (models.Q(scope="", cloud__in=list(scopes.values())) if include_unscoped else models.Q(pk__in=[]))
    )
    if name is not None:
        rows = rows.filter(name=name)
    outcomes = []
    for row in rows.iterator(chunk_size=500):
        cloud = scopes.get(row.scope) or row.cloud
        stat = _stat_everywhere(storage, row.name, [cloud]).get(cloud)
        if isinstance(stat, str):
            outcomes.append(DeleteOutcome(cloud, row.name, f"skipped: {stat}"))
            continue
        if stat is None:
            result = "already gone"
        elif stat.modified < row.written_before.replace(microsecond=0):
            result = "deleted"  # last written in an earlier second than the delete was asked: the copy meant
        else:
            result = "kept newer file"  # the clouds' times have one-second resolution: same second is kept
        if not dry_run:
            if result == "deleted":
                try:
                    storage.clouds[cloud].remove(row.name)
                except Exception as exc:  # noqa: BLE001 - reported; the row stays for the next run
                    outcomes.append(DeleteOutcome(cloud, row.name, f"skipped: {describe(exc)}"))
                    continue
            row.delete()
        outcomes.append(DeleteOutcome(cloud, row.name, result))
    return outcomes


def recorded_names(storage: Any, skip: Collection[str] = ()) -> Iterable[str]:
    """Names with a missing copy recorded for a cloud of this storage (saves of any model, or none)."""
    scopes = [storage.scopes[c] for c in storage.clouds if c not in skip]
    names: Iterable[str] = MissingReplica.objects.filter(scope__in=scopes).values_list("name", flat=True).distinct()
    return names


def backlog(storage: Any) -> dict[str, Any]:
    """What is left to repair: per mirrored field, rows missing a copy per cloud and rows with an unknown column;
    the pending deletes and recorded missing copies of this storage."""
    from .registry import mirrored_fields

    scopes = list(storage.scopes.values())
    models_backlog = {}
    for mirrored in mirrored_fields(storage):
        rows = mirrored.rows()
        known = rows.exclude(**{f"{mirrored.column}__isnull": True})
        models_backlog[mirrored.label] = {
            "rows": rows.count(),
            "unknown": rows.filter(**{f"{mirrored.column}__isnull": True}).count(),
            **{
                f"missing_{cloud}": known.exclude(**{f"{mirrored.column}__contains": cloud}).count()
                for cloud in storage.clouds
            },
        }
    return {
        "models": models_backlog,
        "pending_deletes": PendingDelete.objects.filter(scope__in=scopes).count(),
        "missing_replicas": MissingReplica.objects.filter(scope__in=scopes).count(),
    }
