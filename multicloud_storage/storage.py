"""MultiCloudStorage: the facade. Every policy is decided here, in plain sight.

- Writes: every cloud of the mode that is up, at once (``fanout``), each write create-if-absent unless
  ``file_overwrite``; a name taken in any cloud gets a new one and the copies already made are removed.
  ``write_policy`` decides success; a cloud that missed the file is recorded (``MissingReplica``).
- Reads (open, size, modified time): the clouds holding the file, in ``read_order``, skipping those down;
  a cloud silent for ``failover_after`` seconds gets company from the next (first answer wins).
- URLs: the clouds holding the file, in ``read_order``, healthy first; the first that can sign wins.
- Deletes: every cloud of the mode at once, after the caller's transaction commits; a copy that could not be
  deleted is recorded (``PendingDelete``).

Health is decided in ``health``, writes fan out in ``fanout``, the per-cloud work is done in ``s3`` and ``azure``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import Storage
from django.db import DatabaseError, router, transaction
from django.utils import timezone
from storages.utils import get_available_overwrite_name

from . import conf, signals
from .azure import AzureCloud
from .cloud import Cloud, Fault, Timeouts
from .exceptions import (
    ContentMismatch,
    CredentialsUnavailable,
    NoReplicaAvailable,
    ReplicaWriteError,
    Stalled,
    describe,
)
from .fanout import Outcome, Source, Upload, fan_out, open_source
from .health import CloudStatus, Health, SharedCache
from .names import MAX_KEY_BYTES, canonical
from .s3 import S3Cloud

logger = logging.getLogger("multicloud_storage")
T = TypeVar("T")
NAME_ATTEMPTS = 8  # names tried by one save before giving up on a crowded name


class SavedFile(NamedTuple):
    name: str
    locations: frozenset[str]  # the clouds that took the file


class _Taken(Storage):
    """Django's name rules (truncation, alternatives) over a set of names known to be taken."""

    def __init__(self, taken: Collection[str], alternative: Callable[[str, str], str]) -> None:
        self._taken = taken
        self.get_alternative_name = alternative  # type: ignore[method-assign, assignment]

    def exists(self, name: str) -> bool:
        return name in self._taken


@contextlib.contextmanager
def _recording(name: str) -> Iterator[None]:
    """Write repair records in a savepoint; a database error is logged, never raised: the files are stored."""
    from .models import PendingDelete

    try:
        with transaction.atomic(using=router.db_for_write(PendingDelete)):
            yield
    except DatabaseError as exc:
        logger.error("Could not record repair work for %r (is multicloud_storage migrated?): %s", name, describe(exc))


class _Decision:
    """Whether a save kept the name it tried (set once; read by late-finishing uploads)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._kept = False

    def decide(self, *, kept: bool) -> None:
        if not self._event.is_set():
            self._kept = kept
            self._event.set()

    def kept(self) -> bool:
        self._event.wait(120)
        return self._kept


class MultiCloudStorage(Storage):
    """A Django storage that mirrors files to S3 and/or Azure and serves them from a healthy copy."""

    _constructor_args: tuple[tuple[Any, ...], dict[str, Any]]

    def __new__(cls, *args: Any, **kwargs: Any) -> MultiCloudStorage:
        obj = super().__new__(cls)
        obj._constructor_args = (args, kwargs)  # for deconstruct(), like @deconstructible
        return obj

    def __init__(self, **options: Any) -> None:
        self.options = conf.resolve(options)
        opts = self.options
        timeouts = Timeouts(opts.connect_timeout, opts.read_timeout, opts.retries, opts.probe_timeout)
        backoff = max(opts.probe_timeout, opts.health_check_interval)
        builders: dict[str, Callable[[], Cloud]] = {
            "s3": lambda: S3Cloud(timeouts=timeouts, credentials_backoff=backoff, **opts.s3),
            "azure": lambda: AzureCloud(timeouts=timeouts, credentials_backoff=backoff, **opts.azure),
        }
        self._timeouts = timeouts
        # Only the clouds of the mode exist: in azure mode nothing ever talks to S3.
        self.clouds: dict[str, Cloud] = {name: builders[name]() for name in opts.clouds}
        shared = SharedCache(opts.shared_cache) if opts.shared_cache else None
        self.scopes: dict[str, str] = {name: conf.scope_of(name, opts) for name in self.clouds}
        self.health: dict[str, Health] = {
            name: Health(name, cloud.probe, opts.health_check_interval, shared=shared, scope=self.scopes[name])
            for name, cloud in self.clouds.items()
        }
        self._prefix_bytes = max(len((c.location or "").encode()) + 1 for c in self.clouds.values())
        # The adapters hold the credentials; the public options never do.
        self.options = dataclasses.replace(opts, s3=conf.redacted(opts.s3), azure=conf.redacted(opts.azure))
        self._reserved: set[str] = set()  # names being saved by this process count as taken
        self._deferred: dict[str, object] = {}  # names whose delete waits for a commit; a save cancels it
        self._lock = threading.Lock()
        self._names_free = threading.Condition(self._lock)
        self._alias: str | None = None
        self._warned_all_down = float("-inf")

    @property
    def mode(self) -> str:
        return self.options.mode

    @property
    def alias(self) -> str | None:
        """The STORAGES alias this instance serves (tasks and redirect links name a storage by it); None when
        it was built directly (``FileField(storage=MultiCloudStorage(...))``)."""
        if self._alias is None:
            from django.core.files.storage import default_storage, storages

            for alias in getattr(settings, "STORAGES", None) or {}:
                try:
                    if storages[alias] is self:
                        self._alias = alias
                        break
                except Exception:  # noqa: BLE001 - another alias that cannot be built is not ours
                    continue
            else:
                if getattr(default_storage, "_wrapped", None) is self:
                    self._alias = "default"
        return self._alias

    def __repr__(self) -> str:
        clouds = ", ".join(repr(cloud) for cloud in self.clouds.values())
        return f"<MultiCloudStorage mode={self.mode!r} write_policy={self.options.write_policy!r} clouds=[{clouds}]>"

    def deconstruct(self) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
        """Like @deconstructible, without credentials: migrations never hold a secret."""
        args, kwargs = self._constructor_args
        kwargs = {
            key: {k: v for k, v in value.items() if k not in conf.SECRET_KEYS} if key in ("s3", "azure") else value
            for key, value in kwargs.items()
        }
        cls = type(self)
        path = (
            "multicloud_storage.MultiCloudStorage"
            if cls is MultiCloudStorage
            else f"{cls.__module__}.{cls.__qualname__}"
        )
        return path, args, kwargs

    def health_status(self) -> list[CloudStatus]:
        return [health.status() for health in self.health.values()]

    # Writes -----------------------------------------------------------------------------------

    def save(self, name: str | None, content: Any, max_length: int | None = None) -> str:
        return self.save_mirrored(name, content, max_length=max_length).name

    def save_mirrored(
        self, name: str | None, content: Any, max_length: int | None = None, *, schedule: bool = True
    ) -> SavedFile:
        """save(), also telling which clouds took the file (what MirrorLocationField records).

        With ``repair="task"`` or ``mirror="background"``, a copy left to make is enqueued after the transaction
        commits (``schedule=False``: the caller enqueues it, as MirrorLocationField does once the row exists).
        """
        if name is None:
            name = getattr(content, "name", None)
        if not hasattr(content, "chunks"):
            content = File(content, name)
        name = canonical(name, self._prefix_bytes)
        up = [cloud for cloud in self.clouds if self.health[cloud].is_up()]
        errors = {cloud: "marked down" for cloud in self.clouds if cloud not in up}
        targets = up[:1] if self.options.mirror == "background" else up
        if not targets or (errors and self.options.write_policy == "all"):
            raise ReplicaWriteError(name, errors)  # nothing was written anywhere
        source = open_source(content)  # bad content is refused here, before any request
        try:
            saved = self._store(name, content, source, targets, errors, max_length)
        finally:
            source.close()
        missed = {
            cloud: errors.get(cloud, "background mirror") for cloud in self.clouds if cloud not in saved.locations
        }
        self._record_save(saved, missed)
        if missed and schedule and self.uses_tasks:
            from .tasks import schedule_repair

            schedule_repair(self, saved.name)
        return saved

    @property
    def uses_tasks(self) -> bool:
        """Copies are made (and deletes finished) by tasks: ``repair="task"`` or ``mirror="background"``."""
        return self.options.repair == "task" or self.options.mirror == "background"

    def _store(
        self,
        name: str,
        content: Any,
        source: Source,
        targets: list[str],
        errors: dict[str, str],
        max_length: int | None,
    ) -> SavedFile:
        """Upload under the first free name; a name taken in any cloud is given up and the next one tried."""
        overwrite = self.options.file_overwrite
        taken: set[str] = set()
        for _ in range(NAME_ATTEMPTS):
            candidate = self._reserve(name, max_length, taken)
            decision = _Decision()
            try:
                outcomes = self._upload(
                    candidate, content, source, targets, create_only=not overwrite, decision=decision
                )
            except BaseException:
                decision.decide(kept=False)
                raise
            finally:
                self._release(candidate)
            stored = [cloud for cloud, outcome in outcomes.items() if outcome.error is None]
            conflicts = [
                cloud for cloud, o in outcomes.items() if o.error and self._fault(cloud, o.error) is Fault.EXISTS
            ]
            failed = {cloud: o for cloud, o in outcomes.items() if o.error and cloud not in conflicts}
            errors.update({cloud: describe(outcome.error) for cloud, outcome in failed.items() if outcome.error})
            for cloud in failed:
                logger.warning("Failed replica write of %r to %s: %s", candidate, cloud, errors[cloud])
            if conflicts or (failed and self.options.write_policy == "all") or not stored:
                decision.decide(kept=False)
                ours = stored + [cloud for cloud, outcome in outcomes.items() if outcome.maybe_landed]
                left_behind = self._remove_own(candidate, ours)
                if conflicts and not (failed and self.options.write_policy == "all"):
                    taken.add(candidate)
                    targets = [cloud for cloud in targets if cloud not in failed]
                    if targets:
                        continue
                raise ReplicaWriteError(candidate, errors, left_behind)
            if overwrite:
                stored = self._still_ours(candidate, stored, outcomes, errors)
                if not stored:
                    decision.decide(kept=True)  # the name holds a concurrent save's file: leave it alone
                    raise ReplicaWriteError(candidate, errors)
            decision.decide(kept=True)
            with self._lock:
                self._deferred.pop(candidate, None)  # a delete of this name waiting for a commit must not remove it
            return SavedFile(candidate, frozenset(stored))
        raise ReplicaWriteError(name, {**errors, "names": f"{NAME_ATTEMPTS} names tried were all taken"})

    def _still_ours(
        self, name: str, stored: list[str], outcomes: dict[str, Outcome], errors: dict[str, str]
    ) -> list[str]:
        """With file_overwrite, the clouds that still hold this save's version once every cloud took it.

        Another process saving the same name at the same moment may have overwritten one cloud after us:
        that cloud holds its bytes, not ours, and is not reported (its own save reports it).
        """
        answers, _ = self._ask_every_cloud(lambda cloud: cloud.stat(name), stored)
        ours = []
        for cloud in stored:
            answer = answers.get(cloud)
            if isinstance(answer, Exception) or answer is None or answer.etag != outcomes[cloud].etag:
                errors[cloud] = "overwritten by a concurrent save of the same name"
                logger.warning("%r in %s was overwritten by a concurrent save of the same name.", name, cloud)
            else:
                ours.append(cloud)
        return ours

    def _reserve(self, name: str, max_length: int | None, taken: set[str]) -> str:
        """The next name to try, reserved in this process until its upload ends.

        Without ``file_overwrite`` a name being saved counts as taken (another is chosen at once); with it,
        saves of one name take turns, so the clouds never end up with two saves' bytes.
        """
        limit = MAX_KEY_BYTES - self._prefix_bytes
        max_length = min(max_length, limit) if max_length else limit
        with self._names_free:
            if self.options.file_overwrite:
                candidate = canonical(get_available_overwrite_name(name, max_length), self._prefix_bytes)
                while candidate in self._reserved:
                    self._names_free.wait()
            else:
                candidate = Storage.get_available_name(
                    _Taken(taken | self._reserved, self.get_alternative_name), name, max_length=max_length
                )
                candidate = canonical(candidate, self._prefix_bytes)
            self._reserved.add(candidate)
        return candidate

    def _release(self, name: str) -> None:
        with self._names_free:
            self._reserved.discard(name)
            self._names_free.notify_all()

    def _upload(
        self, name: str, content: Any, source: Source, targets: list[str], *, create_only: bool, decision: _Decision
    ) -> dict[str, Outcome]:
        uploads = [
            Upload(
                self.clouds[c],
                name,
                self.clouds[c].write_options(name, content),
                source,
                create_only=create_only,
                timeouts=self._timeouts,
            )
            for c in targets
        ]

        def late(upload: Upload, future: Future[Any]) -> None:
            """A final request given up on ended after all: a copy that landed after the save stopped waiting
            is removed unless the save kept the name (then it is a good copy, and the repair records it)."""
            if future.exception() is None and not decision.kept():
                self._remove_own(name, [upload.cloud.name])

        outcomes = fan_out(
            source,
            uploads,
            failover_after=self.options.failover_after,
            is_down=lambda cloud: not self.health[cloud].is_up(),
            suspect=lambda cloud: self.health[cloud].suspect(),
            late=late,
            answered=lambda cloud: self.health[cloud].mark_up(),
        )
        for cloud, outcome in outcomes.items():
            self._note(cloud, outcome.error)
        return outcomes

    def _remove_own(self, name: str, clouds: Collection[str]) -> frozenset[str]:
        """Remove copies this process just created; those that cannot be removed are recorded."""
        if not clouds:
            return frozenset()
        # Tried even where the cloud is marked down (a timeout may have hidden a stored copy); a late copy of
        # this save may land until its bound has passed, so the record covers that time too.
        until = timezone.now() + timedelta(seconds=self._bound() + 60)
        failed = self._delete_everywhere(name, clouds, written_before=until, even_down=True)
        return frozenset(failed)

    def _record_save(self, saved: SavedFile, missed: dict[str, str]) -> None:
        from .models import MissingReplica, PendingDelete

        with _recording(saved.name):
            PendingDelete.clear([self.scopes[c] for c in saved.locations], saved.name)  # superseded there
            for cloud, reason in missed.items():
                MissingReplica.record(self.scopes[cloud], cloud, saved.name, reason)
        for cloud, reason in missed.items():
            signals.replica_missing.send(sender=type(self), cloud=cloud, name=saved.name, reason=reason)

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        """A name free in every cloud of the mode now (saves do not need it: their writes are create-if-absent)."""
        limit = MAX_KEY_BYTES - self._prefix_bytes
        max_length = min(max_length, limit) if max_length else limit
        if self.options.file_overwrite:
            available = str(get_available_overwrite_name(name, max_length))
        else:
            available = super().get_available_name(name, max_length=max_length)
        return canonical(available, self._prefix_bytes)  # never a name save() would refuse

    def _save(self, name: str, content: File[Any]) -> str:
        return self.save(name, content)

    # Reads ------------------------------------------------------------------------------------

    def _holders(self, locations: Collection[str] | None) -> list[Cloud]:
        """The clouds of the mode that hold the file, in read order (all of them when unknown)."""
        return [c for name, c in self.clouds.items() if locations is None or name in locations]

    def _submit(self, cloud: Cloud, operation: Callable[[Cloud], T]) -> Future[T]:
        """Run ``operation(cloud)`` on the cloud's pool; an outage feeds health even if nobody waits any more."""
        future = cloud.pool.submit(operation, cloud)
        future.add_done_callback(lambda f: self._note(cloud.name, f.exception()))
        return future

    def _bound(self) -> float:
        t = self._timeouts
        return t.attempts * (t.connect + t.read) + t.retries * 1.0

    def _first_answer(
        self, name: str, operation: Callable[[Cloud], T], locations: Collection[str] | None, skip: Collection[str] = ()
    ) -> tuple[Cloud, T]:
        """Ask the holders in read order; a cloud silent for ``failover_after`` seconds gets company from the next.

        The first answer wins, so a hung cloud that no probe has caught yet delays a read by about a
        second, not by its timeouts. A missing file moves on to the next holder.
        """
        candidates = iter([cloud for cloud in self._holders(locations) if cloud.name not in skip])
        pending: dict[Future[T], tuple[Cloud, float]] = {}
        errors: dict[str, str] = {}

        def start_next() -> None:
            for cloud in candidates:
                if self.health[cloud.name].is_up():
                    pending[self._submit(cloud, operation)] = (cloud, time.monotonic() + self._bound())
                    return
                errors[cloud.name] = "marked down"

        start_next()
        while pending:
            done, _ = wait(pending, timeout=self.options.failover_after, return_when=FIRST_COMPLETED)
            if not done:
                start_next()
                for future, (cloud, deadline) in list(pending.items()):
                    if time.monotonic() > deadline:
                        del pending[future]
                        errors[cloud.name] = describe(Stalled(f"no answer within {self._bound():g} s"))
                        self.health[cloud.name].mark_down(errors[cloud.name])
                continue
            for future in done:
                cloud, _ = pending.pop(future)
                error = future.exception()
                if error is None:
                    if errors:
                        logger.info("Failover: %r read from %s (%s).", name, cloud.name, "; ".join(errors.values()))
                    return cloud, future.result()
                fault = cloud.classify(error)
                if fault is None:
                    raise error
                if fault is not Fault.MISSING:
                    errors[cloud.name] = describe(error)
                start_next()
        if errors:
            raise NoReplicaAvailable(name, errors)
        raise FileNotFoundError(
            f"{name!r} does not exist in any cloud ({', '.join(c.name for c in self._holders(locations))})."
        )

    def open(self, name: str, mode: str = "rb", *, locations: Collection[str] | None = None) -> File[Any]:
        """Download from the first holder that answers (hedged); a holder failing mid-way moves to the next."""
        if set(mode) & set("wax+"):
            raise ValueError(f"MultiCloudStorage opens files for reading only (mode {mode!r}); write with save().")
        tried: list[str] = []
        while True:
            cloud, (size, chunks) = self._first_answer(name, lambda c: c.open_stream(name), locations, skip=tried)
            spooled = tempfile.SpooledTemporaryFile(max_size=2 * 1024 * 1024, prefix="multicloud-")  # noqa: SIM115
            try:
                for chunk in chunks:
                    spooled.write(chunk)
                if spooled.tell() != size:
                    raise ContentMismatch(f"{cloud.name} sent {spooled.tell()} of {size} bytes")
            except Exception as exc:
                spooled.close()
                if cloud.classify(exc) is None and not isinstance(exc, ContentMismatch):
                    raise
                self._note(cloud.name, exc)
                logger.info("Failover: reading %r from %s failed (%s).", name, cloud.name, describe(exc))
                tried.append(cloud.name)
                continue
            spooled.seek(0)
            if "b" in mode:
                file: File[Any] = File(spooled, name=name)
            else:  # text mode reads text, as S3Storage and Django's own storages do
                raw = spooled if sys.version_info >= (3, 11) else spooled._file  # 3.10's is not an IOBase
                file = File(io.TextIOWrapper(raw, encoding="utf-8"), name=name)
            file.mode = mode
            return file

    def _open(self, name: str, mode: str = "rb") -> File[Any]:
        return self.open(name, mode)

    def size(self, name: str, *, locations: Collection[str] | None = None) -> int:
        return self._first_answer(name, lambda cloud: cloud.stat(name).size, locations)[1]

    def get_modified_time(self, name: str, *, locations: Collection[str] | None = None) -> datetime:
        modified = self._first_answer(name, lambda cloud: cloud.stat(name).modified, locations)[1]
        return modified if settings.USE_TZ else timezone.make_naive(modified)

    def _ask_every_cloud(
        self, operation: Callable[[Cloud], T], clouds: Collection[str] | None = None, *, even_down: bool = False
    ) -> tuple[dict[str, T | Exception], dict[str, str]]:
        """Run ``operation`` on every cloud (of the mode, or those given) that is up (or all: ``even_down``), at once.

        Returns (answers, errors): an answer is the result, or the exception of a cloud that answered with an
        object-level error (missing, taken, 403 on that object). A cloud silent past the operation bound,
        or silent for ``failover_after`` seconds and then found down, is in ``errors``, as are clouds down.
        """
        answers: dict[str, T | Exception] = {}
        errors: dict[str, str] = {}
        pending: dict[Future[T], Cloud] = {}
        for name in clouds if clouds is not None else self.clouds:
            if even_down or self.health[name].is_up():
                pending[self._submit(self.clouds[name], operation)] = self.clouds[name]
            else:
                errors[name] = "marked down"
        started = time.monotonic()
        suspected = False
        while pending:
            elapsed = time.monotonic() - started
            done, _ = wait(pending, timeout=0.05, return_when=FIRST_COMPLETED)
            for future in done:
                cloud = pending.pop(future)
                error = future.exception()
                if error is None:
                    answers[cloud.name] = future.result()
                    continue
                fault = cloud.classify(error)
                if fault is None:
                    raise error
                if fault.marks_down:
                    errors[cloud.name] = describe(error)
                else:
                    answers[cloud.name] = error  # type: ignore[assignment]
            if not suspected and elapsed >= self.options.failover_after:
                suspected = True
                for cloud in pending.values():
                    self.health[cloud.name].suspect()
            for future, cloud in list(pending.items()):
                down = elapsed >= self.options.failover_after and not self.health[cloud.name].is_up()
                if down or elapsed > self._bound():
                    del pending[future]
                    silent = Stalled(f"{cloud.name} did not answer within {elapsed:.1f} s")
                    self.health[cloud.name].mark_down(silent)
                    errors[cloud.name] = describe(silent)
        return answers, errors

    def exists(self, name: str) -> bool:
        """True when any cloud of the mode has the name (a 403 on it counts as taken: never overwritten)."""
        if name in self._reserved:
            return True
        answers, errors = self._ask_every_cloud(lambda cloud: cloud.stat(name))
        if not answers:
            raise NoReplicaAvailable(name, errors)
        return any(
            not isinstance(answer, Exception) or self.clouds[cloud].classify(answer) is not Fault.MISSING
            for cloud, answer in answers.items()
        )

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        """The union of what the clouds of the mode that are up list."""
        answers, errors = self._ask_every_cloud(lambda cloud: cloud.list_names(path))
        listings = [answer for answer in answers.values() if not isinstance(answer, Exception)]
        if not listings:
            raise NoReplicaAvailable(path, errors or {c: describe(a) for c, a in answers.items()})  # type: ignore[arg-type]
        directories = {d for cloud_directories, _ in listings for d in cloud_directories}
        files = {f for _, cloud_files in listings for f in cloud_files}
        return sorted(directories), sorted(files)

    # URLs -------------------------------------------------------------------------------------

    def url(  # type: ignore[override]  # django-storages' signature, keyword-only locations
        self,
        name: str,
        expire: int | None = None,
        parameters: dict[str, str] | None = None,
        http_method: str | None = None,
        *,
        locations: Collection[str] | None = None,
    ) -> str:
        """A URL of a copy that exists: healthy clouds first, in read order; never waits on a cloud.

        ``expire``, ``parameters`` (S3's response overrides) and ``http_method`` (GET or HEAD) as in
        django-storages' ``S3Storage.url``. In ``url_mode="redirect"``: a link to this app's view, which
        chooses the cloud when it is clicked (``redirect.link``; ``expire`` is then the link's life).
        """
        if self.options.url_mode == "redirect":
            from .redirect import link

            return link(self, name, expire, parameters, http_method, locations)
        expire = self.options.url_expire if expire is None else conf.check_expire(expire)
        method = conf.check_method(http_method)
        holders = self._holders(locations)
        up = [cloud for cloud in holders if self.health[cloud.name].is_up()]
        errors: dict[str, str] = {}
        for cloud in up + [cloud for cloud in holders if cloud not in up]:
            try:
                url = cloud.sign_url(name, expire, parameters, method)
            except CredentialsUnavailable as exc:
                errors[cloud.name] = str(exc)
                if cloud in up:
                    self.health[cloud.name].mark_down(exc)
                continue
            if cloud not in up and time.monotonic() - self._warned_all_down > 60:
                self._warned_all_down = time.monotonic()  # once a minute, not once per URL
                logger.warning(
                    "Every cloud holding %r is marked down; handing out a %s URL anyway (logged once a minute).",
                    name,
                    cloud.name,
                )
            return url
        if not holders:
            raise NoReplicaAvailable(name, reason="no cloud of the mode holds it")
        raise NoReplicaAvailable(name, errors)

    # Deletes ----------------------------------------------------------------------------------

    def delete(self, name: str) -> None:
        """Delete every copy, after the caller's transaction commits (never when it rolls back).

        Outside a transaction the copies are deleted at once. A copy that cannot be deleted now is recorded
        (PendingDelete) for the repair.
        """
        if not name:
            raise ValueError("The name must be given to delete().")
        from .models import PendingDelete

        connection = transaction.get_connection(router.db_for_write(PendingDelete))
        if not connection.in_atomic_block:
            self._delete_now(name)
            return
        token = object()
        with self._lock:
            self._deferred[name] = token

        def after_commit() -> None:
            with self._lock:
                if self._deferred.get(name) is not token:
                    return  # the name was saved again meanwhile: the new file stays
                del self._deferred[name]
            self._delete_now(name)

        transaction.on_commit(after_commit, using=connection.alias)

    def _delete_now(self, name: str) -> None:
        from .models import MissingReplica

        self._delete_everywhere(name, self.clouds)
        with _recording(name):
            MissingReplica.clear(self.scopes.values(), name)

    def _delete_everywhere(
        self, name: str, clouds: Collection[str], written_before: datetime | None = None, *, even_down: bool = False
    ) -> list[str]:
        """Delete from the given clouds at once; record and return those that could not be deleted."""
        from .models import PendingDelete

        answers, errors = self._ask_every_cloud(lambda cloud: cloud.remove(name), clouds, even_down=even_down)
        for cloud, answer in answers.items():
            if isinstance(answer, Exception) and self.clouds[cloud].classify(answer) is not Fault.MISSING:
                errors[cloud] = describe(answer)
        for cloud, reason in errors.items():
            logger.warning("Could not delete %r from %s: %s", name, cloud, reason)
            with _recording(name):
                PendingDelete.record(self.scopes[cloud], cloud, name, reason, written_before)
            signals.replica_missing.send(sender=type(self), cloud=cloud, name=name, reason=f"not deleted: {reason}")
        if errors and self.uses_tasks:
            from .tasks import schedule_repair

            schedule_repair(self, name)
        return list(errors)

    # Health -----------------------------------------------------------------------------------

    def _fault(self, cloud_name: str, error: BaseException) -> Fault | None:
        return self.clouds[cloud_name].classify(error)

    def _note(self, cloud_name: str, error: BaseException | None) -> None:
        """Feed an operation's outcome to the cloud's health."""
        if error is None:
            self.health[cloud_name].mark_up()
            return
        fault = self._fault(cloud_name, error)
        if fault is not None and fault.marks_down:
            self.health[cloud_name].mark_down(error)
        elif fault is not None:
            self.health[cloud_name].mark_up()  # the cloud answered
