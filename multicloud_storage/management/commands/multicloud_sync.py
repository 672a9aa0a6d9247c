"""manage.py multicloud_sync: make every cloud of the mode hold a verified copy of every file, finish deletes.

Exit status: 0 everything is mirrored; 1 something is left to do (a cloud down, lost or divergent files, failed
copies); 2 a usage error. Through call_command, a clean run returns and any other raises CommandError(returncode).
"""

from __future__ import annotations

import json
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from ... import repair
from ...registry import MirroredField, mirrored_fields
from ._common import USAGE, probe_all, storage_for


@dataclass
class Summary:
    clouds: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows_checked: int = 0
    columns_backfilled: int = 0
    columns_updated: int = 0
    rows_superseded: int = 0
    copies_made: int = 0
    bytes_copied: int = 0
    deletes_finished: int = 0
    deletes_kept_newer: int = 0
    deletes_left: int = 0
    uploads_aborted: int = 0
    copy_errors: list[dict[str, Any]] = field(default_factory=list)
    unchecked: int = 0  # files a cloud could not be asked about (it went down during the run)
    lost: list[dict[str, Any]] = field(default_factory=list)
    divergent: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False

    @property
    def clouds_down(self) -> list[str]:
        return [cloud for cloud, state in self.clouds.items() if not state["up"]]

    @property
    def clean(self) -> bool:
        planned = self.dry_run and (self.copies_made or self.columns_updated or self.deletes_finished)
        return not (
            self.clouds_down
            or self.lost
            or self.divergent
            or self.copy_errors
            or self.deletes_left
            or self.unchecked
            or planned
        )

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items()}
        data["clouds_down"] = self.clouds_down
        data["clean"] = self.clean
        return data


class Command(BaseCommand):
    help = "Copy missing replicas, backfill MirrorLocationField columns, verify copies and finish pending deletes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Report what would be done; change nothing.")
        parser.add_argument(
            "--model",
            action="append",
            dest="models",
            metavar="app_label.ModelName",
            help="Only these models (repeatable). Default: every model with a MirrorLocationField.",
        )
        parser.add_argument(
            "--storage", default="default", metavar="ALIAS", help="The STORAGES alias (default: default)."
        )
        parser.add_argument(
            "--verify",
            choices=repair.VERIFY_LEVELS,
            default="size",
            help="How copies are compared: exists, size (default) or checksum (MD5 of the bytes).",
        )
        parser.add_argument("--workers", type=int, default=4, help="Files repaired in parallel (default 4).")
        parser.add_argument(
            "--json", action="store_true", help="Print the summary as one JSON object, and nothing else."
        )
        parser.add_argument(
            "--stale-uploads-hours",
            type=float,
            default=24.0,
            help="Abort unfinished S3 multipart uploads older than this (default 24).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1.", returncode=USAGE)
        storage = storage_for(options["storage"])
        try:
            fields = mirrored_fields(storage, options["models"])
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc), returncode=USAGE) from exc
        summary = Summary(dry_run=options["dry_run"])
        self.progress = _Progress(enabled=sys.stderr.isatty() and self.stderr._out is sys.stderr)
        summary.clouds = probe_all(storage)
        if not options["json"]:
            for cloud, state in summary.clouds.items():
                self.stdout.write(
                    f"{cloud}: {'up' if state['up'] else 'DOWN, skipped for this run: ' + state['reason']}"
                )
        skip = set(summary.clouds_down)
        if len(skip) < len(storage.clouds):
            self._run(storage, fields, summary, skip, options)
        self._report(summary, options["json"])
        if not summary.clean:
            raise CommandError("Something is left to do (see above).", returncode=1)

    def _run(self, storage: Any, fields: list[MirroredField], summary: Summary, skip: set[str], options: Any) -> None:
        dry_run, verify = options["dry_run"], options["verify"]
        if not dry_run:
            older_than = timezone.now() - timedelta(hours=options["stale_uploads_hours"])
            for cloud in storage.clouds:
                if cloud not in skip:
                    summary.uploads_aborted += storage.clouds[cloud].abort_stale_uploads(older_than)
        # 1. Deletes first: a pending delete must run before a copy could bring the name back.
        legacy = options["storage"] == "default"
        for outcome in repair.finish_pending_deletes(storage, dry_run=dry_run, skip=skip, include_unscoped=legacy):
            if outcome.result in ("deleted", "already gone"):
                summary.deletes_finished += 1
            elif outcome.result == "kept newer file":
                summary.deletes_kept_newer += 1
            else:
                summary.deletes_left += 1
        # 2. Rows of every mirrored field, in batches, several at a time.
        lock = threading.Lock()
        total = sum(f.rows().count() for f in fields)
        self.progress.total = total
        seen: set[str] = set()

        def one_row(mirrored: MirroredField, pk: Any) -> None:
            row = repair.repair_row(storage, mirrored, pk, verify=verify, dry_run=dry_run, skip=skip)
            with lock:
                summary.rows_checked += 1
                if row is not None:
                    seen.add(row.name)
                    self._count_file(summary, row.file, mirrored, pk)
                    if row.updated or (dry_run and row.after != row.before):
                        summary.columns_updated += 1
                        summary.columns_backfilled += row.before is None
                    summary.rows_superseded += row.superseded
                self.progress.update(summary)

        with ThreadPoolExecutor(max_workers=options["workers"], thread_name_prefix="multicloud-sync") as pool:
            pending: set[Future[None]] = set()
            for mirrored in fields:
                for pk in mirrored.rows().values_list("pk", flat=True).iterator(chunk_size=500):
                    pending.add(pool.submit(one_row, mirrored, pk))
                    if len(pending) >= options["workers"] * 4:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for future in done:
                            future.result()
            for future in pending:
                future.result()
            # 3. Copies recorded as missing for names no mirrored row holds (models without the column).
            for name in [] if options["models"] else list(repair.recorded_names(storage, skip)):
                if name not in seen:
                    file = repair.repair_file(storage, name, verify=verify, dry_run=dry_run, skip=skip)
                    self._count_file(summary, file, None, None)
        self.progress.done()

    @staticmethod
    def _count_file(summary: Summary, file: repair.FileRepair, mirrored: MirroredField | None, pk: Any) -> None:
        where: dict[str, Any] = {"name": file.name}
        if mirrored is not None:
            where.update(model=mirrored.model._meta.label, field=mirrored.field.name, pk=pk)
        summary.copies_made += len(file.copied)
        summary.bytes_copied += sum(file.copied.values())
        if file.lost:
            summary.lost.append(where)
        if file.divergent:
            summary.divergent.append({**where, "clouds": file.divergent})
        if file.errors:
            summary.copy_errors.append({**where, "clouds": file.errors})
        summary.unchecked += bool(set(file.unreachable) - set(summary.clouds_down))

    def _report(self, summary: Summary, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(summary.as_dict(), default=str, sort_keys=True))
            return
        verb = "would be" if summary.dry_run else "were"
        lines = [
            "",
            f"Rows checked:         {summary.rows_checked}",
            f"Columns backfilled:   {summary.columns_backfilled} (updated in all: {summary.columns_updated})",
            f"Copies made:          {summary.copies_made} ({_size(summary.bytes_copied)})"
            + (" (dry run: to be made)" if summary.dry_run else ""),
            f"Deletes finished:     {summary.deletes_finished} (newer files kept: {summary.deletes_kept_newer}, "
            f"left: {summary.deletes_left})",
            f"Stale uploads aborted: {summary.uploads_aborted}",
            f"Lost files:           {len(summary.lost)}",
            f"Divergent copies:     {len(summary.divergent)}",
            f"Failed copies:        {len(summary.copy_errors)}",
            f"Files not checked:    {summary.unchecked} (a cloud stopped answering during the run)",
            f"Clouds down:          {', '.join(summary.clouds_down) or 'none'}",
        ]
        if summary.rows_superseded:
            lines.append(f"Rows saved by the app meanwhile (left as they are): {summary.rows_superseded}")
        for item in summary.lost:
            lines.append(f"LOST {item['name']}" + (f" ({item['model']} pk={item['pk']})" if "model" in item else ""))
        for item in summary.divergent:
            lines.append(f"DIVERGENT {item['name']}: " + "; ".join(f"{c}: {why}" for c, why in item["clouds"].items()))
        for item in summary.copy_errors:
            lines.append(f"NOT COPIED {item['name']}: " + "; ".join(f"{c}: {why}" for c, why in item["clouds"].items()))
        lines.append(
            "Everything is mirrored." if summary.clean else f"Something is left to do; changes {verb} reported above."
        )
        self.stdout.write("\n".join(lines))


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    return str(count)


class _Progress:
    """rows checked / total and bytes copied, redrawn on one line of a terminal's stderr."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.total = 0

    def update(self, summary: Summary) -> None:
        if self.enabled:
            sys.stderr.write(
                f"\r{summary.rows_checked}/{self.total} rows checked, "
                f"{summary.copies_made} copies ({_size(summary.bytes_copied)})   "
            )
            sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
