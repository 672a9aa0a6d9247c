"""Secrets never leak: every failure driven with distinctive credentials, then every log record (all loggers, at
DEBUG), exception message, repr, deconstruct(), migration, check message, admin page and command output searched."""

from __future__ import annotations

import base64
import io
import json
import logging
import re

import pytest
from django.core.checks import run_checks
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import models
from django.db.migrations.writer import MigrationWriter

from multicloud_storage import MultiCloudStorage
from multicloud_storage.models import PendingDelete
from tests.testapp.models import Recording

from .emulators import AZURITE_ACCOUNT

pytestmark = pytest.mark.usefixtures("transactional_db")
S3_SECRET = "S3SECRETsentinel0123456789abcdefXYZ"
S3_TOKEN = "S3TOKENsentinel0123456789abcdefXYZ"
AZURE_KEY = base64.b64encode(b"AZUREKEYsentinel-0123456789-abcdef").decode()  # a wrong key: every request fails
SECRETS = [S3_SECRET, S3_TOKEN, AZURE_KEY, AZURE_KEY[:20]]


def leaked(texts: list[str]) -> list[str]:
    return [f"{secret!r} in {text[:200]!r}" for text in texts for secret in SECRETS if secret in text]


def test_no_secret_appears_anywhere_whatever_fails(env, settings, admin_client, caplog):
    connection = re.sub(r"AccountKey=[^;]+", f"AccountKey={AZURE_KEY}", env.azure_options()["connection_string"])
    options = env.options(
        "both", s3={"secret_key": S3_SECRET, "security_token": S3_TOKEN}, azure={"connection_string": connection}
    )
    shown: list[str] = []
    with caplog.at_level(logging.DEBUG):  # every logger, botocore's and azure's included
        storage = env.install(
            "both", s3={"secret_key": S3_SECRET, "security_token": S3_TOKEN}, azure={"connection_string": connection}
        )
        shown += [
            repr(storage),
            repr(storage.options),
            str(storage.options.s3),
            str(storage.options.azure),
            repr(storage.clouds["s3"]),
            repr(storage.clouds["azure"]),
            str(storage.deconstruct()),
        ]
        shown.append(MigrationWriter.serialize(models.FileField(storage=MultiCloudStorage(**options)))[0])

        def attempt(action):
            try:
                return action()
            except Exception as exc:  # noqa: BLE001 - the message is what is checked
                shown.append(f"{type(exc).__name__}: {exc}")
                shown.append(repr(exc))

        # Azure refuses the wrong key: saves land on S3 only; then every failure of each cloud, one after the other.
        attempt(lambda: Recording.objects.create(file=ContentFile(b"x", name="r.webm")))
        attempt(lambda: storage.url("r.webm"))
        for fault in ("refuse", "hang", "reset"):
            env.s3_proxy.set(fault)
            attempt(lambda: storage.save("f.txt", ContentFile(b"y")))
            attempt(lambda: storage.open("recordings/r.webm").read())
            attempt(lambda: storage.exists("f.txt"))
            attempt(lambda: storage.size("recordings/r.webm"))
            attempt(lambda: storage.listdir("recordings"))
            attempt(lambda: storage.delete("recordings/r.webm"))
            attempt(lambda: storage.url("recordings/r.webm"))
            env.s3_proxy.heal()
            storage.health["s3"].probe_now()
        strict = MultiCloudStorage(**{**options, "write_policy": "all"})
        attempt(lambda: strict.save("strict.txt", ContentFile(b"z")))
        shown += [status.reason for status in storage.health_status()]
        shown += list(PendingDelete.objects.values_list("reason", flat=True))

        for command in (
            ["multicloud_sync"],
            ["multicloud_sync", "--json"],
            ["multicloud_health"],
            ["multicloud_health", "--json"],
        ):
            out, err = io.StringIO(), io.StringIO()
            try:
                call_command(*command, stdout=out, stderr=err)
            except CommandError as exc:
                shown.append(str(exc))
            shown += [out.getvalue(), err.getvalue()]

        for page in (
            "/admin/testapp/recording/",
            "/admin/multicloud_storage/pendingdelete/",
            "/admin/multicloud_storage/missingreplica/",
        ):
            # A presigned link for temporary credentials must carry its session token (that is how S3 checks it).
            html = admin_client.get(page).content.decode()
            shown.append(re.sub(r"X-Amz-Security-Token=[^&\"'\s<]+", "", html))

        settings.STORAGES = {
            **settings.STORAGES,
            "broken": {
                "BACKEND": "multicloud_storage.MultiCloudStorage",
                "OPTIONS": {**options, "mode": "nope", "colour": "blue"},
            },
        }
        shown += [f"{m.msg} {m.hint}" for m in run_checks()]
        attempt(lambda: MultiCloudStorage(**{**options, "mode": "nope"}))

    records = [record.getMessage() for record in caplog.records]
    records += [json.dumps(getattr(record, "args", ""), default=str) for record in caplog.records]
    assert any("Could not" in text or "down" in text for text in shown + records)  # failures did happen
    assert len(PendingDelete.objects.all()) >= 1
    assert leaked(shown + records) == []
    assert AZURITE_ACCOUNT  # the public emulator account name may appear; its key is not configured here
