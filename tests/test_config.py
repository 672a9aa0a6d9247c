"""Configuration: options, the env var, manage.py check, the column's value, and secrets kept out of sight."""

from __future__ import annotations

import io
import logging

import django
import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import models
from django.test.utils import isolate_apps

from multicloud_storage import MultiCloudStorage, NoReplicaAvailable
from multicloud_storage.conf import resolve
from multicloud_storage.fields import MirrorLocationField, MirrorLocations

from .emulators import AZURITE_KEY

S3 = {"bucket_name": "media"}
LEGACY = django.VERSION < (5, 1)
AZURE = {"azure_container": "media", "account_name": "acme", "account_key": "c2VjcmV0LWtleQ=="}


@pytest.fixture(autouse=True)
def no_setting_defaults(settings):
    settings.MULTICLOUD_STORAGE = {}  # these tests pass every option themselves


def test_mode_defaults_to_both_and_reads_the_env_var(monkeypatch):
    assert resolve({"s3": S3, "azure": AZURE}).mode == "both"
    monkeypatch.setenv("STORAGE_UPLOAD_MODE", "azure")
    storage = MultiCloudStorage(azure=AZURE)
    assert storage.mode == "azure" and set(storage.clouds) == {"azure"}
    assert resolve({"mode": "s3", "s3": S3}).mode == "s3"  # an explicit option wins over the env var


def test_the_multicloud_storage_setting_supplies_defaults(settings):
    settings.MULTICLOUD_STORAGE = {
        "mode": "s3",
        "url_expire": 60,
        "s3": {"bucket_name": "setting", "region_name": "eu-west-1"},
    }
    storage = MultiCloudStorage(url_expire=120)
    assert (storage.mode, storage.options.url_expire) == ("s3", 120)
    assert storage.clouds["s3"].bucket_name == "setting"
    # An option given replaces the setting's whole value: no mixing of two configurations' credentials.
    storage = MultiCloudStorage(s3={"bucket_name": "given"})
    assert storage.clouds["s3"].region_name is None


def test_unknown_mode_names_the_value_and_the_allowed_ones():
    with pytest.raises(ImproperlyConfigured) as raised:
        MultiCloudStorage(mode="gcs", s3=S3, azure=AZURE)
    assert "'gcs'" in str(raised.value) and "'s3'" in str(raised.value) and "'both'" in str(raised.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "s3", "s3": {}}, "no bucket"),
        ({"mode": "azure", "azure": {"account_name": "a", "account_key": "k"}}, "no container"),
        ({"write_policy": "most", "s3": S3, "azure": AZURE}, "write_policy"),
        ({"read_order": ["s3"], "s3": S3, "azure": AZURE}, "read_order"),
        ({"url_expire": 0, "s3": S3, "azure": AZURE}, "url_expire"),
        ({"colour": "blue", "s3": S3, "azure": AZURE}, "colour"),
        ({"s3": {**S3, "no_such_setting": 1}, "azure": AZURE}, "no_such_setting"),
    ],
)
def test_bad_options_raise_improperly_configured(options, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        MultiCloudStorage(**options)


def test_the_other_cloud_is_not_even_built_in_single_cloud_modes():
    assert set(MultiCloudStorage(mode="s3", s3=S3).clouds) == {"s3"}
    assert set(MultiCloudStorage(mode="azure", azure=AZURE).clouds) == {"azure"}


def test_token_credential_default_is_default_azure_credential():
    from azure.identity import DefaultAzureCredential

    storage = MultiCloudStorage(mode="azure", azure={**AZURE, "account_key": None, "token_credential": "default"})
    assert isinstance(storage.clouds["azure"].token_credential, DefaultAzureCredential)


def _check_ids(settings, options=None, **extra):
    if getattr(settings, "LEGACY", False):  # Django 4.2 configured with DEFAULT_FILE_STORAGE
        settings.MULTICLOUD_STORAGE = options or {}
    else:
        settings.STORAGES = {
            "default": {"BACKEND": "multicloud_storage.MultiCloudStorage", "OPTIONS": options or {}},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    for key, value in extra.items():
        setattr(settings, key, value)
    return {message.id: message for message in run_checks() if message.id.startswith("multicloud_storage")}


def test_manage_py_check_reports_misconfiguration(settings):
    assert _check_ids(settings, {"s3": S3, "azure": AZURE}) == {}
    assert "multicloud_storage.E001" in _check_ids(settings, {"mode": "gcs"})
    found = _check_ids(settings, {"mode": "both", "s3": {}, "azure": {"account_name": "acme"}})
    assert {"multicloud_storage.E002", "multicloud_storage.E003", "multicloud_storage.E004"} <= set(found)
    assert "bucket" in found["multicloud_storage.E002"].msg
    assert "credential" in found["multicloud_storage.E004"].msg


def test_check_command_output(settings):
    _check_ids(settings, {"mode": "azure", "azure": {"azure_container": "media", "account_name": "acme"}})
    out = io.StringIO()
    with pytest.raises(Exception) as raised:  # SystemCheckError
        call_command("check", stdout=out, stderr=out)
    assert "multicloud_storage.E004" in str(raised.value)


def test_default_file_storage_is_checked_before_5_1_and_reported_as_ignored_after(settings):
    settings.MULTICLOUD_STORAGE = {"mode": "s3", "s3": {}}
    if LEGACY:  # tests/settings.py sets DEFAULT_FILE_STORAGE to MultiCloudStorage
        found = {m.id for m in run_checks() if m.id.startswith("multicloud_storage")}
        assert found == {"multicloud_storage.E002"}  # its options (MULTICLOUD_STORAGE) are checked
    else:
        found = _check_ids(
            settings, {"s3": S3, "azure": AZURE}, DEFAULT_FILE_STORAGE="multicloud_storage.MultiCloudStorage"
        )
        assert set(found) == {"multicloud_storage.W001"}


def test_mirror_locations_values():
    field = MirrorLocationField(file_field="file")
    assert field.to_python("s3,azure") == {"s3", "azure"}
    assert field.to_python(None) is None
    assert field.to_python("") == set()
    assert field.get_prep_value({"s3", "azure"}) == "azure,s3"
    assert field.get_prep_value(None) is None
    assert str(MirrorLocations({"s3", "azure"})) == "azure, s3"
    with pytest.raises(ValidationError):
        field.get_prep_value({"gcs"})
    name, path, args, kwargs = field.deconstruct()
    assert path == "multicloud_storage.fields.MirrorLocationField" and kwargs == {"file_field": "file"}


@isolate_apps("tests.testapp")
def test_a_column_naming_no_file_field_is_a_check_error():
    class Broken(models.Model):
        mirrors = MirrorLocationField(file_field="nope")

        class Meta:
            app_label = "testapp"

    errors = Broken._meta.get_field("mirrors").check()
    assert [e.id for e in errors] == ["multicloud_storage.E011"]


SECRETS = ["s3-secret-value", "azure-key-value", AZURITE_KEY, "session-token-value"]


def test_secrets_never_appear_in_deconstruct_repr_or_errors(caplog):
    storage = MultiCloudStorage(
        s3={
            **S3,
            "access_key": "AKIAEXAMPLE",
            "secret_key": "s3-secret-value",
            "security_token": "session-token-value",
        },
        azure={**AZURE, "account_key": "azure-key-value"},
    )
    path, args, kwargs = storage.deconstruct()
    assert path == "multicloud_storage.MultiCloudStorage"
    assert kwargs["s3"] == S3 and kwargs["azure"] == {"azure_container": "media", "account_name": "acme"}
    shown = [repr(storage), str(kwargs), repr(storage.clouds["s3"]), repr(storage.clouds["azure"])]
    with pytest.raises(ImproperlyConfigured) as raised:
        MultiCloudStorage(mode="nope", azure={**AZURE, "account_key": "azure-key-value"})
    shown.append(str(raised.value))
    for text in shown:
        for secret in SECRETS:
            assert secret not in text


def test_secrets_never_appear_in_logs_or_failure_messages(env, caplog):
    storage = env.install("both", s3={"secret_key": "s3-secret-value", "security_token": "session-token-value"})
    storage.save("a.txt", ContentFile(b"x"))
    env.s3_proxy.set("refuse")
    env.azure_proxy.set("refuse")
    messages = []
    with caplog.at_level(logging.DEBUG, logger="multicloud_storage"):
        for action in (lambda: storage.open("a.txt"), lambda: storage.save("b.txt", ContentFile(b"y"))):
            with pytest.raises(OSError) as raised:
                action()
            messages.append(str(raised.value))
    url = storage.url("a.txt")
    text = caplog.text + " ".join(messages) + repr(storage)
    assert "Could not" in text or "down" in text
    for secret in SECRETS:
        assert secret not in text
    assert "sig=" not in text and "X-Amz-Signature" not in text and url not in text


def test_no_replica_available_is_silent_in_templates():
    assert NoReplicaAvailable.silent_variable_failure is True
    assert isinstance(NoReplicaAvailable("a"), OSError)


def test_a_storage_passed_to_a_field_serialises_into_migrations_without_secrets():
    from django.db.migrations.writer import MigrationWriter

    storage = MultiCloudStorage(
        s3={**S3, "secret_key": "s3-secret-value"}, azure={**AZURE, "account_key": "azure-key-value"}
    )
    field = models.FileField(storage=storage)
    code, imports = MigrationWriter.serialize(field)
    assert "multicloud_storage.MultiCloudStorage(" in code
    assert "s3-secret-value" not in code and "azure-key-value" not in code
    assert "import multicloud_storage" in imports
