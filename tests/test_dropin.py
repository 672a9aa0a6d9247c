"""A drop-in for django-storages users (issue 12), part 1: ``url(name, expire, parameters, http_method)``.

Every URL is fetched from the emulators. moto honours S3's response overrides on presigned GETs (it answers
the ``response-*`` headers; not on HEAD) but verifies no signature, so each S3 URL is also compared with the
presign botocore computes for the same request (method and overrides) at the same instant. Azurite verifies
every SAS, the response headers it carries (rscd, rsct, rscc, rscl, rsce) included, on GET and HEAD.
"""

from __future__ import annotations

import datetime
import timeit
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from botocore.config import Config
from django.core.files.base import ContentFile
from storages.backends.azure_storage import AzureStorage
from storages.backends.s3 import S3Storage

from multicloud_storage.azure import RESPONSE_PARAMETERS as AZURE_SAS_KWARGS
from multicloud_storage.conf import MAX_EXPIRE

from .conftest import botocore_presign, query

BODY = b"%PDF-1.4 the quarterly report\n" * 40
# Every response override S3 knows, with values that need quoting (spaces, quotes, ';', '=', non-ASCII).
OVERRIDES = {
    "ResponseContentDisposition": "attachment; filename=\"Q3 report.pdf\"; filename*=UTF-8''Q3%20r%C3%A9sum%C3%A9.pdf",
    "ResponseContentType": "application/x-report; charset=utf-8",
    "ResponseCacheControl": "private, max-age=60",
    "ResponseContentLanguage": "fr-CA",
    "ResponseContentEncoding": "identity",
}
HEADERS = {  # the header each override makes the cloud answer
    "ResponseContentDisposition": "Content-Disposition",
    "ResponseContentType": "Content-Type",
    "ResponseCacheControl": "Cache-Control",
    "ResponseContentLanguage": "Content-Language",
    "ResponseContentEncoding": "Content-Encoding",
    "ResponseExpires": "Expires",
}
SAS_FIELDS = {  # the SAS field that carries each override on Azure
    "ResponseContentDisposition": "rscd",
    "ResponseContentType": "rsct",
    "ResponseCacheControl": "rscc",
    "ResponseContentLanguage": "rscl",
    "ResponseContentEncoding": "rsce",
}
EXPIRES = "Thu, 01 Dec 2033 16:00:00 GMT"


def request(url: str, method: str = "GET"):
    """(status, headers, body) of a plain HTTP request, as a browser or curl would make it."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def assert_botocore_agrees(storage, url: str, key: str, expire: int, parameters=None, method: str = "GET") -> None:
    params = query(url)
    expected = botocore_presign(storage, key, params["X-Amz-Date"], expire, parameters=parameters, method=method)
    assert urlsplit(url)._replace(query="") == urlsplit(expected)._replace(query="")
    assert params == query(expected)  # the same signature: S3 would accept it for this method and these overrides


def sas_expiry(url: str) -> float:
    """Seconds from now until the SAS expires."""
    expiry = datetime.datetime.strptime(query(url)["se"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    return (expiry - datetime.datetime.now(datetime.timezone.utc)).total_seconds()


@pytest.fixture
def report(env):
    storage = env.install("both", url_expire=3600)
    name = storage.save("reports/q3.pdf", ContentFile(BODY))
    return storage, name


# expire ------------------------------------------------------------------------------------------


def test_expire_overrides_url_expire_for_that_url_only(env, report):
    storage, name = report
    s3_url = storage.url(name, expire=120)
    assert urlsplit(s3_url).port == env.s3_proxy.port
    assert query(s3_url)["X-Amz-Expires"] == "120"
    assert_botocore_agrees(storage, s3_url, name, 120)
    azure_url = storage.url(name, expire=120, locations={"azure"})
    assert 100 < sas_expiry(azure_url) <= 121
    assert request(s3_url)[::2] == request(azure_url)[::2] == (200, BODY)

    assert query(storage.url(name))["X-Amz-Expires"] == "3600"  # the next URL is back to url_expire
    assert 3500 < sas_expiry(storage.url(name, locations={"azure"})) <= 3601


def test_expire_is_capped_at_seven_days(report):
    storage, name = report
    assert query(storage.url(name, expire=MAX_EXPIRE))["X-Amz-Expires"] == str(MAX_EXPIRE)
    assert MAX_EXPIRE - 60 < sas_expiry(storage.url(name, expire=MAX_EXPIRE, locations={"azure"})) <= MAX_EXPIRE + 1
    for bad in (MAX_EXPIRE + 1, 0, -5, 1.5, "60", True, {"ResponseContentType": "text/plain"}):
        with pytest.raises(ValueError, match="expire must be a number of seconds from 1 to 604800"):
            storage.url(name, expire=bad)
    # S3Storage.url's positional order is (name, parameters, expire): a dict in second place is refused, not misread.
    with pytest.raises(ValueError, match="expire must be"):
        storage.url(name, {"ResponseContentType": "text/plain"})


# parameters --------------------------------------------------------------------------------------


def test_response_overrides_make_both_clouds_answer_the_same_headers(env, report):
    storage, name = report
    s3_url = storage.url(name, parameters={**OVERRIDES, "ResponseExpires": EXPIRES})
    assert_botocore_agrees(storage, s3_url, name, 3600, {**OVERRIDES, "ResponseExpires": EXPIRES})
    status, headers, body = request(s3_url)
    assert (status, body) == (200, BODY)
    for key, value in {**OVERRIDES, "ResponseExpires": EXPIRES}.items():
        assert headers[HEADERS[key]] == value, key

    azure_url = storage.url(name, parameters=OVERRIDES, locations={"azure"})
    assert {SAS_FIELDS[key]: value for key, value in OVERRIDES.items()}.items() <= query(azure_url).items()
    status, headers, body = request(azure_url)
    assert (status, body) == (200, BODY)
    for key, value in OVERRIDES.items():
        assert headers[HEADERS[key]] == value, key

    # The overrides are signed: Azurite refuses a SAS whose rscd was changed after signing.
    tampered = azure_url.replace("rscd=attachment", "rscd=inline")
    assert tampered != azure_url and request(tampered)[0] == 403
    # Without parameters each cloud answers the stored headers.
    assert request(storage.url(name))[1]["Content-Type"] == "application/pdf"
    assert request(storage.url(name, locations={"azure"}))[1]["Content-Type"] == "application/pdf"


def test_response_overrides_follow_the_failover(env, report):
    storage, name = report
    env.s3_proxy.set("refuse")
    assert storage.health["s3"].probe_now() is False
    url = storage.url(name, parameters={"ResponseContentDisposition": "attachment; filename=q3.pdf"})
    assert urlsplit(url).port == env.azure_proxy.port
    status, headers, body = request(url)
    assert (status, body) == (200, BODY)
    assert headers["Content-Disposition"] == "attachment; filename=q3.pdf"


def test_a_parameter_the_serving_cloud_cannot_honour_is_refused(env, report):
    storage, name = report
    for unknown in ({"Foo": "bar"}, {"response-content-type": "text/plain"}, {"VersionId": "3"}):
        for locations in (None, {"azure"}):
            with pytest.raises(ValueError, match=f"{next(iter(unknown))!r}"):
                storage.url(name, parameters=unknown, locations=locations)
    # S3 has an Expires override, a SAS has none: refused where Azure would serve, never dropped.
    expires = {"ResponseExpires": EXPIRES}
    assert request(storage.url(name, parameters=expires))[1]["Expires"] == EXPIRES
    with pytest.raises(ValueError, match="'ResponseExpires' has no equivalent in an Azure SAS"):
        storage.url(name, parameters=expires, locations={"azure"})
    env.s3_proxy.set("refuse")
    assert storage.health["s3"].probe_now() is False
    with pytest.raises(ValueError, match="'ResponseExpires' has no equivalent in an Azure SAS"):
        storage.url(name, parameters=expires)  # S3 is down: Azure would serve it


# http_method -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "POST", "DELETE", "PATCH"])
def test_writing_methods_are_refused_with_an_explanation(report, method):
    storage, name = report
    with pytest.raises(ValueError, match=rf"URLs are for reading: http_method must be GET or HEAD, not '{method}'"):
        storage.url(name, http_method=method)
    with pytest.raises(ValueError, match="write with save()"):
        storage.url(name, http_method=method.lower(), locations={"azure"})


def test_head_urls_answer_head_requests_in_both_clouds(env, report):
    storage, name = report
    s3_head = storage.url(name, http_method="HEAD")
    assert_botocore_agrees(storage, s3_head, name, 3600, method="HEAD")  # signed for HEAD, not GET
    get_at_same_instant = botocore_presign(storage, name, query(s3_head)["X-Amz-Date"], 3600)
    assert query(get_at_same_instant)["X-Amz-Signature"] != query(s3_head)["X-Amz-Signature"]
    azure_head = storage.url(name, http_method="head", locations={"azure"})
    for url in (s3_head, azure_head):
        status, headers, body = request(url, method="HEAD")
        assert (status, body) == (200, b"")
        assert int(headers["Content-Length"]) == len(BODY)
        assert headers["Content-Type"] == "application/pdf"
    head_with_overrides = storage.url(name, http_method="HEAD", parameters={"ResponseContentType": "text/x-q3"})
    assert_botocore_agrees(storage, head_with_overrides, name, 3600, {"ResponseContentType": "text/x-q3"}, "HEAD")
    # moto ignores response overrides on HEAD (it honours them on GET); Azurite honours them on both.
    azure_head_with_overrides = storage.url(
        name, http_method="HEAD", parameters={"ResponseContentType": "text/x-q3"}, locations={"azure"}
    )
    assert request(azure_head_with_overrides, method="HEAD")[1]["Content-Type"] == "text/x-q3"


# cost --------------------------------------------------------------------------------------------


def test_the_fast_signing_path_stays_fast_with_parameters(env, report, record_property):
    """url() with the five response overrides against url() without them, per cloud (min of 5 runs)."""
    storage, name = report
    with_overrides = {**OVERRIDES}

    def per_call(**kwargs) -> float:
        storage.url(name, **kwargs)  # warm: endpoint, credentials, signing key
        number = 500
        return min(timeit.repeat(lambda: storage.url(name, **kwargs), number=number, repeat=5)) / number * 1e6

    measured = {
        "s3": (per_call(), per_call(parameters=with_overrides)),
        "azure": (per_call(locations={"azure"}), per_call(parameters=with_overrides, locations={"azure"})),
    }
    # For scale (printed, not asserted): django-storages' own url() with the same overrides, same bucket/container.
    s3_storage = S3Storage(**env.s3_options(client_config=Config(signature_version="s3v4")))
    azure_storage = AzureStorage(**env.azure_options())
    sas_overrides = {AZURE_SAS_KWARGS[key]: value for key, value in OVERRIDES.items()}  # generate_blob_sas kwargs
    for label, call in (
        ("S3Storage", lambda: s3_storage.url(name, parameters=with_overrides)),
        ("AzureStorage", lambda: azure_storage.url(name, expire=3600, parameters=sas_overrides)),
    ):
        call()
        print(
            f"django-storages {label}.url() with the overrides: "
            f"{min(timeit.repeat(call, number=200, repeat=3)) / 200 * 1e6:.1f} us"
        )
    for cloud, (plain, overridden) in measured.items():
        record_property(f"url_us_{cloud}", f"{plain:.1f} without, {overridden:.1f} with parameters")
        print(f"url() {cloud}: {plain:.1f} us without parameters, {overridden:.1f} us with 5 response overrides")
        # Loose bounds (a shared 2-core machine): the overrides add a few query fields, never a client or a request.
        assert overridden < 2.5 * plain + 50, measured
        assert overridden < 2000, measured
