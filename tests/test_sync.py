"""multicloud_sync and multicloud_health against the emulators: repair, backfill, deletes, verification, exit codes."""

from __future__ import annotations

import io
import json
import threading
import time

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import CommandError

from multicloud_storage import repair, signals
from multicloud_storage.models import MissingReplica, PendingDelete
from tests.testapp.models import Attachment, BotDebugScreenshot, Recording

from .conftest import settle

pytestmark = pytest.mark.usefixtures("transactional_db")
VIDEO = b"\x1aE\xdf\xa3 recording " * 500


def sync(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("multicloud_sync", *args, stdout=out, stderr=err)
        return 0, out.getvalue()
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)


def sync_json(*args: str) -> tuple[int, dict]:
    code, out = sync("--json", *args)
    return code, json.loads(out.splitlines()[0])


@pytest.mark.parametrize("down", ["s3", "azure"])
def test_a_copy_missed_during_an_outage_is_repaired(env, down):
    storage = env.install("both")
    env.proxy(down).set("refuse")
    recording = Recording.objects.create(file=ContentFile(VIDEO, name="outage.webm"))
    up = "azure" if down == "s3" else "s3"
    assert recording.mirrors == {up}
    assert MissingReplica.objects.filter(cloud=down, name=recording.file.name).exists()

    code, summary = sync_json()  # the cloud is still down: skipped, reported, non-zero
    assert code == 1 and summary["clouds_down"] == [down] and summary["copies_made"] == 0

    settle(storage)  # the save's last retry cannot land after the heal: the repair makes the copy
    env.proxy(down).heal()
    code, summary = sync_json()
    assert code == 0, summary
    assert summary["copies_made"] == 1 and summary["bytes_copied"] == len(VIDEO)
    assert env.raw_bytes(down, recording.file.name) == VIDEO
    assert Recording.objects.get().mirrors == {"s3", "azure"}
    assert not MissingReplica.objects.exists()
    content_types = {
        env.emulators.s3.head_object(Bucket=env.bucket, Key=recording.file.name)["ContentType"],
        env.emulators.azure.get_blob_client(env.container, recording.file.name)
        .get_blob_properties()
        .content_settings.content_type,
    }
    assert content_types == {"video/webm"}

    code, summary = sync_json()  # idempotent: a second run copies nothing
    assert code == 0 and summary["copies_made"] == 0 and summary["columns_updated"] == 0


def test_null_columns_are_backfilled_with_exactly_the_clouds_that_hold_the_file(env):
    env.install("both")
    both = Recording.objects.create(file=ContentFile(b"both", name="both.webm"))
    s3_only = Recording.objects.create(file=ContentFile(b"s3 only", name="s3.webm"))
    nowhere = Recording.objects.create(file=ContentFile(b"gone", name="gone.webm"))
    env.emulators.azure.get_blob_client(env.container, s3_only.file.name).delete_blob()
    env.emulators.s3.delete_object(Bucket=env.bucket, Key=nowhere.file.name)
    env.emulators.azure.get_blob_client(env.container, nowhere.file.name).delete_blob()
    Recording.objects.update(mirrors=None)

    code, summary = sync_json()
    assert code == 1  # a lost file is something left to do
    assert summary["lost"] == [
        {"name": nowhere.file.name, "model": "testapp.Recording", "field": "file", "pk": nowhere.pk}
    ]
    assert Recording.objects.get(pk=both.pk).mirrors == {"s3", "azure"}
    assert Recording.objects.get(pk=s3_only.pk).mirrors == {"s3", "azure"}  # backfilled, then copied
    assert env.azure_bytes(s3_only.file.name) == b"s3 only"
    assert Recording.objects.get(pk=nowhere.pk).mirrors is None  # never "fixed" by clearing the column
    assert summary["columns_backfilled"] == 2


def test_a_dry_run_changes_nothing(env):
    storage = env.install("both")
    env.azure_proxy.set("refuse")
    Recording.objects.create(file=ContentFile(b"x", name="dry.webm"))
    settle(storage)
    env.azure_proxy.heal()
    storage.health["azure"].probe_now()
    PendingDelete.record(storage.scopes["s3"], "s3", "orphan.txt", "test")
    env.emulators.s3.put_object(Bucket=env.bucket, Key="orphan.txt", Body=b"old")  # written after the delete
    code, summary = sync_json("--dry-run")
    assert code == 1 and summary["copies_made"] == 1 and summary["dry_run"] is True
    assert env.azure_names() == set()
    assert Recording.objects.get().mirrors == {"s3"}
    assert PendingDelete.objects.count() == 1 and MissingReplica.objects.count() == 1
    assert "orphan.txt" in env.s3_keys()


def test_pending_deletes_are_finished_and_a_newer_file_of_the_same_name_is_kept(env):
    storage = env.install("both", file_overwrite=True)
    storage.save("old.txt", ContentFile(b"old"))
    storage.save("reused.txt", ContentFile(b"old"))
    time.sleep(1.1)  # the clouds' times have one-second resolution: a delete in the same second keeps the file
    env.azure_proxy.set("refuse")
    storage.delete("old.txt")
    storage.delete("reused.txt")
    assert PendingDelete.objects.filter(cloud="azure").count() == 2
    env.azure_proxy.heal()
    # Someone writes a new reused.txt to Azure after the delete was asked for (another storage, a restore...).
    env.emulators.azure.get_blob_client(env.container, "reused.txt").upload_blob(b"new", overwrite=True)
    code, summary = sync_json()
    assert summary["deletes_finished"] == 1 and summary["deletes_kept_newer"] == 1
    assert "old.txt" not in env.azure_names()
    assert env.azure_bytes("reused.txt") == b"new"
    assert not PendingDelete.objects.exists()


def test_a_cloud_going_down_during_the_run_loses_nothing_and_the_next_run_finishes(env, monkeypatch):
    env.install("both")
    env.azure_proxy.set("refuse")
    for i in range(6):
        Recording.objects.create(file=ContentFile(f"file {i}".encode(), name=f"r{i}.webm"))
    env.azure_proxy.heal()
    original = repair.repair_file
    calls = []

    def break_azure_after_two(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            env.azure_proxy.set("refuse")
        return original(*args, **kwargs)

    monkeypatch.setattr(repair, "repair_file", break_azure_after_two)
    code, summary = sync_json("--workers", "1")
    assert code == 1 and (summary["copy_errors"] or summary["unchecked"]), summary
    for recording in Recording.objects.all():  # every row still names a cloud that holds its file
        for cloud in recording.mirrors:
            assert env.raw_bytes(cloud, recording.file.name) == recording.file.name.split("/")[-1][
                1:2
            ].encode() or env.raw_bytes(cloud, recording.file.name).startswith(b"file ")
    env.azure_proxy.heal()
    monkeypatch.setattr(repair, "repair_file", original)
    code, summary = sync_json()
    assert code == 0, summary
    assert all(r.mirrors == {"s3", "azure"} for r in Recording.objects.all())


def test_checksum_verification_finds_divergent_copies(env):
    env.install("both")
    recording = Recording.objects.create(file=ContentFile(b"the same size!", name="d.webm"))
    env.emulators.azure.get_blob_client(env.container, recording.file.name).upload_blob(
        b"but other bytes", overwrite=True
    )
    env.emulators.azure.get_blob_client(env.container, recording.file.name).upload_blob(
        b"the same SIZE!", overwrite=True
    )
    code, summary = sync_json()  # sizes agree: the default verification passes
    assert code == 0
    code, summary = sync_json("--verify", "checksum")
    assert code == 1
    assert summary["divergent"] == [
        {
            "name": recording.file.name,
            "model": "testapp.Recording",
            "field": "file",
            "pk": recording.pk,
            "clouds": {"azure": "same size, different MD5"},
        }
    ]
    assert env.azure_bytes(recording.file.name) == b"the same SIZE!"  # reported, not "repaired"


def test_a_row_saved_by_the_app_during_the_run_is_not_overwritten(env, monkeypatch):
    storage = env.install("both")
    env.azure_proxy.set("refuse")
    recording = Recording.objects.create(file=ContentFile(b"v1", name="v.webm"))
    env.azure_proxy.heal()
    storage.health["azure"].probe_now()
    original = repair.repair_file

    def app_saves_meanwhile(*args, **kwargs):
        report = original(*args, **kwargs)
        row = Recording.objects.get(pk=recording.pk)
        row.file.save("v2.webm", ContentFile(b"v2"))  # the app replaces the file while the sync runs
        return report

    monkeypatch.setattr(repair, "repair_file", app_saves_meanwhile)
    code, summary = sync_json()
    row = Recording.objects.get(pk=recording.pk)
    assert row.file.name.endswith("v2.webm") and row.mirrors == {"s3", "azure"}
    assert summary["rows_superseded"] == 1


def test_models_without_the_column_are_repaired_from_the_recorded_copies(env):
    storage = env.install("both")
    env.s3_proxy.set("refuse")
    attachment = Attachment.objects.create(file=ContentFile(b"notes", name="notes.txt"))
    settle(storage)
    env.s3_proxy.heal()
    code, summary = sync_json()
    assert code == 0 and summary["copies_made"] == 1
    assert env.s3_bytes(attachment.file.name) == b"notes"
    assert not MissingReplica.objects.exists()


def test_several_models_and_columns_and_model_filter(env):
    storage = env.install("both")
    env.azure_proxy.set("refuse")
    shot = BotDebugScreenshot(image=ContentFile(b"\x89PNG fake", name="s.png"))
    shot.video.save("v.webm", ContentFile(b"video"), save=False)
    shot.save_base()
    Recording.objects.create(file=ContentFile(b"r", name="r.webm"))
    settle(storage)
    env.azure_proxy.heal()
    code, summary = sync_json("--model", "testapp.BotDebugScreenshot")
    assert summary["rows_checked"] == 2 and summary["copies_made"] == 2
    shot = BotDebugScreenshot.objects.get()
    assert shot.mirror_of_image == shot.video_clouds == {"s3", "azure"}
    assert Recording.objects.get().mirrors == {"s3"}
    assert sync("--model", "nope.Nothing")[0] == 2
    assert sync("--storage", "staticfiles")[0] == 2


def test_output_json_only_and_call_command_semantics(env):
    env.install("both")
    Recording.objects.create(file=ContentFile(b"x", name="x.webm"))
    out = io.StringIO()
    call_command("multicloud_sync", "--json", stdout=out)  # clean: returns normally
    assert json.loads(out.getvalue())["clean"] is True
    code, text = sync()
    assert code == 0 and "Everything is mirrored." in text


def test_multicloud_health_exit_codes_and_json(env):
    env.install("both")
    Recording.objects.create(file=ContentFile(b"x", name="h.webm"))
    out = io.StringIO()
    call_command("multicloud_health", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["status"] == "ok" and report["clouds"]["s3"]["up"] and report["clouds"]["azure"]["up"]
    assert report["models"]["testapp.Recording.file"] == {"rows": 1, "unknown": 0, "missing_s3": 0, "missing_azure": 0}

    env.azure_proxy.set("refuse")
    Recording.objects.create(file=ContentFile(b"y", name="h2.webm"))
    with pytest.raises(CommandError) as raised:
        call_command("multicloud_health", "--json", stdout=(out := io.StringIO()))
    report = json.loads(out.getvalue())
    assert raised.value.returncode == 1 and report["status"] == "degraded"
    assert report["models"]["testapp.Recording.file"]["missing_azure"] == 1 and report["missing_replicas"] == 1

    env.s3_proxy.set("refuse")
    with pytest.raises(CommandError) as raised:
        call_command("multicloud_health", stdout=(out := io.StringIO()))
    assert raised.value.returncode == 2 and "Status: down" in out.getvalue()


def test_signals_are_sent_once_per_change(env):
    events = []

    def record(signal_name):
        return lambda sender, **kwargs: events.append((signal_name, kwargs.get("cloud"), kwargs.get("name")))

    handlers = {
        sig: record(label)
        for sig, label in ((signals.cloud_down, "down"), (signals.cloud_up, "up"), (signals.replica_missing, "missing"))
    }
    for sig, handler in handlers.items():
        sig.connect(handler)
    try:
        storage = env.install("both")
        env.azure_proxy.set("refuse")
        storage.save("a.txt", ContentFile(b"a"))
        storage.save("b.txt", ContentFile(b"b"))
        env.azure_proxy.heal()
        assert storage.health["azure"].probe_now()
        assert storage.health["azure"].probe_now()
    finally:
        for sig, handler in handlers.items():
            sig.disconnect(handler)
    assert events.count(("down", "azure", None)) == 1
    assert events.count(("up", "azure", None)) == 1
    assert ("missing", "azure", "a.txt") in events and ("missing", "azure", "b.txt") in events


def test_a_repair_from_several_threads_at_once_is_safe(env):
    env.install("both")
    env.azure_proxy.set("refuse")
    for i in range(8):
        Recording.objects.create(file=ContentFile(f"{i}".encode() * 1000, name=f"p{i}.webm"))
    env.azure_proxy.heal()
    results = []
    threads = [threading.Thread(target=lambda: results.append(sync_json("--workers", "4"))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.mirrors == {"s3", "azure"} for r in Recording.objects.all())
    for recording in Recording.objects.all():
        assert env.azure_bytes(recording.file.name) == env.s3_bytes(recording.file.name)
