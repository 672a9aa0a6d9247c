"""Repair and background mirroring on Django's task framework, run by real workers (django-tasks-db's db_worker,
and RQ with a real redis-server): no command run, the copies appear and the columns follow."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.core.files.base import ContentFile

from multicloud_storage.models import MissingReplica, PendingDelete
from tests.testapp.models import Attachment, Recording

from .conftest import wait_until

VIDEO = b"\x1aE\xdf\xa3 a recording " * 2000


def tasks_options(env, **extra):
    return env.options("both", repair="task", **extra)


def test_a_copy_missed_in_an_outage_is_made_by_the_worker_without_any_command(env, worker):
    env.install("both", repair="task")
    env.azure_proxy.set("refuse")
    recording = Recording.objects.create(file=ContentFile(VIDEO, name="outage.webm"))
    assert recording.mirrors == {"s3"}  # enqueued at commit: the repair task waits in the database
    env.azure_proxy.heal()
    worker(tasks_options(env))
    wait_until(lambda: Recording.objects.get().mirrors == {"s3", "azure"}, timeout=30)
    assert env.azure_bytes(recording.file.name) == VIDEO
    assert not MissingReplica.objects.exists()


def test_the_task_retries_with_backoff_while_the_cloud_is_still_down(env, worker):
    env.install("both", repair="task")
    env.azure_proxy.set("refuse")
    recording = Recording.objects.create(file=ContentFile(VIDEO, name="still-down.webm"))
    worker(tasks_options(env))
    from django_tasks_db.models import DBTaskResult

    # The first attempt finds Azure down (it probes it itself) and schedules itself again, 10 s later.
    wait_until(lambda: DBTaskResult.objects.count() >= 2, timeout=20)  # the retry, enqueued by the first run
    assert Recording.objects.get().mirrors == {"s3"}
    env.azure_proxy.heal()
    wait_until(lambda: Recording.objects.get().mirrors == {"s3", "azure"}, timeout=40)
    assert env.azure_bytes(recording.file.name) == VIDEO


def test_background_mirroring_saves_one_cloud_then_the_worker_adds_the_other(env, worker):
    storage = env.install("both", mirror="background")
    saved = storage.save_mirrored("background/video.webm", ContentFile(VIDEO))
    assert saved.locations == {"s3"}  # the save returned after the first cloud in read order alone
    assert env.azure_names() == set()
    recording = Recording.objects.create(file=ContentFile(VIDEO, name="bg.webm"))
    assert recording.mirrors == {"s3"}
    worker(env.options("both", mirror="background"))
    wait_until(lambda: Recording.objects.get().mirrors == {"s3", "azure"}, timeout=30)
    wait_until(lambda: saved.name in env.azure_names(), timeout=30)  # a name with no row is mirrored too
    assert env.azure_bytes(saved.name) == env.s3_bytes(saved.name) == VIDEO
    assert env.azure_bytes(recording.file.name) == VIDEO


def test_a_model_without_the_column_and_a_delete_left_behind_are_finished_by_the_worker(env, worker):
    storage = env.install("both", repair="task")
    env.s3_proxy.set("refuse")
    attachment = Attachment.objects.create(file=ContentFile(b"notes", name="notes.txt"))
    env.s3_proxy.heal()
    gone = storage.save("gone.txt", ContentFile(b"old"))
    env.azure_proxy.set("refuse")
    import time

    time.sleep(1.1)  # the clouds' times have one-second resolution
    storage.delete(gone)
    assert PendingDelete.objects.filter(cloud="azure", name=gone).exists()
    env.azure_proxy.heal()
    worker(tasks_options(env))
    wait_until(lambda: attachment.file.name in env.s3_keys(), timeout=30)
    wait_until(lambda: gone not in env.azure_names(), timeout=30)
    assert env.s3_bytes(attachment.file.name) == b"notes"
    wait_until(lambda: not PendingDelete.objects.exists() and not MissingReplica.objects.exists(), timeout=10)


def test_the_same_tasks_run_on_rq(env, worker, shared_cache, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    env.install("both", repair="task")
    env.azure_proxy.set("refuse")
    recording = Recording.objects.create(file=ContentFile(VIDEO, name="rq.webm"))
    env.azure_proxy.heal()
    worker(tasks_options(env), kind="rq")
    wait_until(lambda: Recording.objects.get().mirrors == {"s3", "azure"}, timeout=40)
    assert env.azure_bytes(recording.file.name) == VIDEO


@pytest.mark.django_db  # some checks (task backends, Django 6.1) read the database
def test_repair_task_without_a_usable_task_backend_is_a_check_error(settings):
    settings.STORAGES = {
        "default": {
            "BACKEND": "multicloud_storage.MultiCloudStorage",
            "OPTIONS": {"mode": "s3", "s3": {"bucket_name": "media"}, "repair": "task"},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.MULTICLOUD_STORAGE = {}

    def ids():
        return {m.id for m in run_checks() if m.id.startswith("multicloud_storage")}

    settings.TASKS = {}  # no backend (on Django < 6.0 the backport would silently fall back to the immediate one)
    assert "multicloud_storage.E020" in ids()
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    assert "multicloud_storage.E020" in ids()
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    assert "multicloud_storage.W004" in ids()
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    assert not {"multicloud_storage.E020", "multicloud_storage.W004"} & ids()
