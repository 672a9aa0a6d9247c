"""MultiCloudStorage: the facade. Every policy is decided here, in plain sight.

- Writes: every cloud of the mode that is up, at once (``fanout``); ``write_policy`` decides success.
- Reads (open, size, modified time): the clouds holding the file, in ``read_order``, skipping those down;
  a cloud silent for ``failover_after`` seconds gets company from the next (first answer wins).
- URLs: the clouds holding the file, in ``read_order``, healthy first; the first that can sign wins.
- Deletes: every cloud of the mode; a copy that could not be deleted is remembered (PendingDelete).

Health is decided in ``health``, the per-cloud work done in ``s3`` and ``azure``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Collection
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple, TypeVar

from django.core.files.base import File
from django.core.files.storage import Storage
from storages.utils import get_available_overwrite_name

from . import conf
from .azure import AzureCloud
from .cloud import Cloud, Timeouts
from .exceptions import CredentialsUnavailable, NoReplicaAvailable, ReplicaWriteError, describe
from .fanout import fan_out
from .health import CloudStatus, Health
from .names import MAX_KEY_LENGTH, check_name
from .s3 import S3Cloud

logger = logging.getLogger("multicloud_storage")
T = TypeVar("T")


class SavedFile(NamedTuple):
    name: str
    locations: frozenset[str]  # the clouds that took the file


class MultiCloudStorage(Storage):
    """A Django storage that mirrors files to S3 and/or Azure and serves them from a healthy copy."""

    def __new__(cls, *args: Any, **kwargs: Any) -> MultiCloudStorage:
        obj = super().__new__(cls)
        obj._constructor_args = (args, kwargs)  # for deconstruct(), like @deconstructible
        return obj

    def __init__(self, **options: Any) -> None:
        self.options = conf.resolve(options)
        opts = self.options
        timeouts = Timeouts(opts.connect_timeout, opts.read_timeout, opts.retries, opts.probe_timeout)
        builders: dict[str, Callable[[], Cloud]] = {
            "s3": lambda: S3Cloud(timeouts=timeouts, credentials_recheck=opts.health_check_interval, **opts.s3),
            "azure": lambda: AzureCloud(timeouts=timeouts, **opts.azure),
        }
        # Only the clouds of the mode exist: in azure mode nothing ever talks to S3.
        self.clouds: dict[str, Cloud] = {name: builders[name]() for name in opts.clouds}
        self.health: dict[str, Health] = {
            name: Health(name, cloud.probe, opts.health_check_interval) for name, cloud in self.clouds.items()
        }
        self._prefix_length = max(len(getattr(c, "location", "") or "") + 1 for c in self.clouds.values())
        self._saved = threading.local()
        # Names being saved by this process count as taken, so two threads never pick the same one.
        self._reserved: set[str] = set()
        self._reserved_lock = threading.Lock()
        self._name_locks = [threading.Lock() for _ in range(64)]

    @property
    def mode(self) -> str:
        return self.options.mode

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
        path = "multicloud_storage.MultiCloudStorage" if cls is MultiCloudStorage else f"{cls.__module__}.{cls.__qualname__}"
        return path, args, kwargs

    def health_status(self) -> list[CloudStatus]:
        return [health.status() for health in self.health.values()]

    # Writes -----------------------------------------------------------------------------------

    def save(self, name: str | None, content: Any, max_length: int | None = None) -> str:
        if name is None:
            name = getattr(content, "name", None)
        check_name(name, self._prefix_length)
        self._saved.free_in = (None, frozenset())  # filled by exists() in get_available_name
        self._saved.reserved = None
        try:
            return super().save(name, content, max_length=max_length)
        except NoReplicaAvailable as exc:  # no cloud could even say whether the name is free
            raise ReplicaWriteError(exc.name, exc.errors) from exc
        finally:
            with self._reserved_lock:
                self._reserved.discard(self._saved.reserved)

    def save_mirrored(self, name: str | None, content: Any, max_length: int | None = None) -> SavedFile:
        """save(), also telling which clouds took the file (what MirrorLocationField records)."""
        self._saved.locations = frozenset()
        saved_name = self.save(name, content, max_length=max_length)
        return SavedFile(saved_name, self._saved.locations)

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        limit = MAX_KEY_LENGTH - self._prefix_length
        max_length = min(max_length, limit) if max_length else limit
        if self.options.file_overwrite:
            return get_available_overwrite_name(name, max_length)
        with self._name_locks[hash(name) % len(self._name_locks)]:
            chosen = super().get_available_name(name, max_length=max_length)
            with self._reserved_lock:
                self._reserved.add(chosen)
            self._saved.reserved = chosen
        return chosen

    def _save(self, name: str, content: File) -> str:
        check_name(name, self._prefix_length)
        uploads: dict[str, Callable[[Any], object]] = {}
        errors: dict[str, str] = {}
        checked_name, free_in = getattr(self._saved, "free_in", (None, frozenset()))
        for cloud_name, cloud in self.clouds.items():
            if not self.health[cloud_name].is_up():
                errors[cloud_name] = "marked down"
            elif checked_name == name and cloud_name not in free_in and not self.options.file_overwrite:
                errors[cloud_name] = "could not check that the name is free"
            else:
                uploads[cloud_name] = partial(cloud._save, name)
        if not uploads or (errors and self.options.write_policy == "all"):
            raise ReplicaWriteError(name, errors)  # nothing was written anywhere

        results = fan_out(name, content, uploads)
        stored = frozenset(cloud_name for cloud_name, error in results.items() if error is None)
        for cloud_name, error in results.items():
            self._note(cloud_name, error)
            if error is not None:
                errors[cloud_name] = describe(error)
                logger.warning("Failed replica write of %r to %s: %s", name, cloud_name, errors[cloud_name])
        if errors and self.options.write_policy == "all":
            for cloud_name in stored:
                self._delete_from(cloud_name, name)  # leave no partial copy
            raise ReplicaWriteError(name, errors)
        if not stored:
            raise ReplicaWriteError(name, errors)
        self._saved.locations = stored
        return name

    # Reads ------------------------------------------------------------------------------------

    def _holders(self, locations: Collection[str] | None) -> list[Cloud]:
        """The clouds of the mode that hold the file, in read order (all of them when unknown)."""
        return [c for name, c in self.clouds.items() if locations is None or name in locations]

    def _ask_in_thread(
        self, cloud: Cloud, operation: Callable[[Cloud], T], inbox: queue.SimpleQueue[tuple[Cloud, bool, Any]]
    ) -> None:
        """Run ``operation(cloud)`` in a daemon thread; put (cloud, succeeded, result or error) in ``inbox``.

        An outage error feeds the cloud's health even when nobody waits for the answer any more.
        """

        def attempt() -> None:
            try:
                inbox.put((cloud, True, operation(cloud)))
            except Exception as exc:
                if cloud.is_outage(exc):
                    self._note(cloud.name, exc)
                inbox.put((cloud, False, exc))

        threading.Thread(target=attempt, name=f"multicloud-{cloud.name}", daemon=True).start()

    def _first_answer(
        self, name: str, operation: Callable[[Cloud], T], locations: Collection[str] | None, skip: Collection[str] = ()
    ) -> tuple[Cloud, T]:
        """Ask the holders in read order; a cloud silent for ``failover_after`` seconds gets company from the next.

        The first answer wins, so a hung cloud that no probe has caught yet delays a read by about a
        second, not by its timeouts. Outage errors feed health; a missing file moves on to the next holder.
        """
        candidates = iter([cloud for cloud in self._holders(locations) if cloud.name not in skip])
        answers: queue.SimpleQueue[tuple[Cloud, bool, Any]] = queue.SimpleQueue()
        errors: dict[str, str] = {}

        def start_next() -> int:
            for cloud in candidates:
                if self.health[cloud.name].is_up():
                    self._ask_in_thread(cloud, operation, answers)
                    return 1
                errors[cloud.name] = "marked down"
            return 0

        pending = start_next()
        while pending:
            try:
                cloud, ok, value = answers.get(timeout=self.options.failover_after)
            except queue.Empty:
                pending += start_next()
                continue
            pending -= 1
            if ok:
                self._note(cloud.name, None)
                if errors:
                    logger.info("Failover: %r read from %s (%s).", name, cloud.name, "; ".join(errors))
                return cloud, value
            if not isinstance(value, FileNotFoundError):
                if not cloud.is_outage(value):
                    raise value
                errors[cloud.name] = describe(value)
            pending += start_next()
        if errors:
            raise NoReplicaAvailable(name, errors)
        raise FileNotFoundError(f"{name!r} does not exist in any cloud ({', '.join(self._names(locations))}).")

    def _names(self, locations: Collection[str] | None) -> list[str]:
        return [cloud.name for cloud in self._holders(locations)]

    def open(self, name: str, mode: str = "rb", *, locations: Collection[str] | None = None) -> File:
        """Find a holder (hedged, as in _first_answer), then download from it; an outage moves to the next."""
        if set(mode) & set("wax+"):
            raise ValueError(f"MultiCloudStorage opens files for reading only (mode {mode!r}); write with save().")
        tried: list[str] = []
        while True:
            cloud, _ = self._first_answer(name, lambda c: c.file_size(name), locations, skip=tried)
            try:
                return cloud.open_for_read(name)
            except Exception as exc:
                if not cloud.is_outage(exc):
                    raise
                self._note(cloud.name, exc)
                logger.info("Failover: reading %r from %s failed (%s).", name, cloud.name, describe(exc))
                tried.append(cloud.name)

    def _open(self, name: str, mode: str = "rb") -> File:
        return self.open(name, mode)

    def size(self, name: str, *, locations: Collection[str] | None = None) -> int:
        return self._first_answer(name, lambda cloud: cloud.file_size(name), locations)[1]

    def get_modified_time(self, name: str, *, locations: Collection[str] | None = None) -> datetime:
        return self._first_answer(name, lambda cloud: cloud.modified_time(name), locations)[1]

    def _ask_every_cloud(self, operation: Callable[[Cloud], T]) -> tuple[dict[str, T], dict[str, str]]:
        """Run ``operation`` on every cloud of the mode that is up, at once: (answers, errors).

        A cloud with no answer within ``read_timeout`` is marked down; its late answer is ignored.
        """
        answers: dict[str, T] = {}
        errors: dict[str, str] = {}
        inbox: queue.SimpleQueue[tuple[Cloud, bool, Any]] = queue.SimpleQueue()
        asked = []
        for cloud in self.clouds.values():
            if self.health[cloud.name].is_up():
                self._ask_in_thread(cloud, operation, inbox)
                asked.append(cloud.name)
            else:
                errors[cloud.name] = "marked down"
        deadline = time.monotonic() + self.options.read_timeout
        for _ in asked:
            try:
                cloud, ok, value = inbox.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if ok:
                answers[cloud.name] = value
            elif cloud.is_outage(value):
                errors[cloud.name] = describe(value)
            else:
                raise value
        for cloud_name in asked:
            if cloud_name not in answers and cloud_name not in errors:
                silent = TimeoutError(f"no answer within {self.options.read_timeout:g} s")
                self.health[cloud_name].mark_down(silent)
                errors[cloud_name] = describe(silent)
        return answers, errors

    def exists(self, name: str) -> bool:
        """True when any cloud of the mode has the name: a name is free only where every cloud says so.

        The clouds that said "free" are remembered (per thread) for the save that follows: a cloud
        that could not answer is not written to, so a save never overwrites a file it did not see.
        """
        if name in self._reserved:
            return True
        answers, errors = self._ask_every_cloud(lambda cloud: cloud.exists(name))
        if not answers:
            raise NoReplicaAvailable(name, errors)
        self._saved.free_in = (name, frozenset(c for c, taken in answers.items() if not taken))
        return any(answers.values())

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        """The union of what the clouds of the mode that are up list."""
        answers, errors = self._ask_every_cloud(lambda cloud: cloud.listdir(path))
        if not answers:
            raise NoReplicaAvailable(path, errors)
        directories = {d for cloud_directories, _ in answers.values() for d in cloud_directories}
        files = {f for _, cloud_files in answers.values() for f in cloud_files}
        return sorted(directories), sorted(files)

    # URLs -------------------------------------------------------------------------------------

    def url(self, name: str, *, locations: Collection[str] | None = None) -> str:
        """A URL of a copy that exists: healthy clouds first, in read order; never waits on a cloud."""
        holders = self._holders(locations)
        up = [cloud for cloud in holders if self.health[cloud.name].is_up()]
        errors: dict[str, str] = {}
        for cloud in up + [cloud for cloud in holders if cloud not in up]:
            try:
                url = cloud.sign_url(name, self.options.url_expire)
            except CredentialsUnavailable as exc:
                errors[cloud.name] = str(exc)
                continue
            if cloud not in up:
                logger.warning("Every cloud holding %r is marked down; handing out a %s URL anyway.", name, cloud.name)
            elif cloud is not holders[0]:
                logger.debug("Failover: URL of %r from %s.", name, cloud.name)
            return url
        if not holders:
            raise NoReplicaAvailable(name, reason="no cloud of the mode holds it")
        raise NoReplicaAvailable(name, errors)

    # Deletes ----------------------------------------------------------------------------------

    def delete(self, name: str) -> None:
        """Delete every copy; a copy that cannot be deleted now is recorded for the repair command."""
        if not name:
            raise ValueError("The name must be given to delete().")
        for cloud_name in self.clouds:
            self._delete_from(cloud_name, name)

    def _delete_from(self, cloud_name: str, name: str) -> None:
        cloud = self.clouds[cloud_name]
        if not self.health[cloud_name].is_up():
            self._remember_delete(cloud_name, name, "marked down")
            return
        try:
            cloud.delete(name)
        except Exception as exc:
            self._note(cloud_name, exc)
            logger.warning("Could not delete %r from %s: %s", name, cloud_name, describe(exc))
            self._remember_delete(cloud_name, name, describe(exc))

    def _remember_delete(self, cloud_name: str, name: str, reason: str) -> None:
        from .models import PendingDelete

        PendingDelete.objects.update_or_create(cloud=cloud_name, name=name, defaults={"reason": reason[:500]})

    # Health -----------------------------------------------------------------------------------

    def _note(self, cloud_name: str, error: BaseException | None) -> None:
        """Feed an operation's outcome to the cloud's health."""
        if error is None:
            self.health[cloud_name].mark_up()
        elif self.clouds[cloud_name].is_outage(error):
            self.health[cloud_name].mark_down(error)
