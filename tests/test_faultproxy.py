"""The fault proxy itself: HTTP answers chosen by the test, and shaping, against the real emulators."""

from __future__ import annotations

import http.client
import statistics
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas
from botocore.exceptions import ClientError

from . import emulators
from .conftest import S3_KEY, Env
from .emulators import AZURITE_ACCOUNT, AZURITE_KEY, azure_connection_string
from .faultproxy import FaultProxy, RequestParser, azure_error, s3_error


def s3_client(port: int):
    return emulators.s3_client(port, S3_KEY, retries={"total_max_attempts": 1})


def azure_client(port: int) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(azure_connection_string(port), retry_total=0)


def test_a_rule_answers_head_of_one_key_and_lets_the_rest_through_s3(env: Env) -> None:
    env.emulators.s3.put_object(Bucket=env.bucket, Key="secret.txt", Body=b"s")
    env.emulators.s3.put_object(Bucket=env.bucket, Key="open.txt", Body=b"o")
    head = env.s3_proxy.answer(*s3_error(403, "AccessDenied"), method="HEAD", path=rf"/{env.bucket}/secret\.txt$")
    client = s3_client(env.s3_proxy.port)
    requests_before, answered_before = env.s3_proxy.requests, env.s3_proxy.answered  # the proxy is the session's

    with pytest.raises(ClientError) as caught:
        client.head_object(Bucket=env.bucket, Key="secret.txt")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert caught.value.response["Error"]["Code"] == "403"  # like S3: a HEAD error has no body, so no code
    assert client.head_object(Bucket=env.bucket, Key="open.txt")["ContentLength"] == 1
    assert client.get_object(Bucket=env.bucket, Key="secret.txt")["Body"].read() == b"s"  # GET is not matched

    env.s3_proxy.answer(*s3_error(403, "AccessDenied", "Access Denied"), method="GET", path=r"/secret\.txt")
    with pytest.raises(ClientError) as caught:
        client.get_object(Bucket=env.bucket, Key="secret.txt")
    assert caught.value.response["Error"] == {"Code": "AccessDenied", "Message": "Access Denied"}
    assert head.hits == 1 and env.s3_proxy.answered - answered_before == 2
    assert env.s3_proxy.requests - requests_before == 4
    assert env.s3_proxy.recent[-1] == ("GET", f"/{env.bucket}/secret.txt")
    client.close()


def test_a_rule_answers_head_of_one_blob_and_lets_the_rest_through_azure(env: Env) -> None:
    container = env.emulators.azure.get_container_client(env.container)
    container.upload_blob("secret.txt", b"s")
    container.upload_blob("open.txt", b"o")
    env.azure_proxy.answer(
        *azure_error(403, "AuthorizationPermissionMismatch"), method="HEAD", path=rf"/{env.container}/secret\.txt(\?|$)"
    )
    service = azure_client(env.azure_proxy.port)
    through = service.get_container_client(env.container)

    with pytest.raises(HttpResponseError) as caught:
        through.get_blob_client("secret.txt").get_blob_properties()
    assert caught.value.status_code == 403
    assert caught.value.error_code == "AuthorizationPermissionMismatch"  # from x-ms-error-code, even on HEAD
    assert through.get_blob_client("open.txt").get_blob_properties().size == 1
    assert through.download_blob("secret.txt").readall() == b"s"
    service.close()


def test_times_limits_how_many_requests_a_rule_answers(env: Env) -> None:
    rule = env.s3_proxy.answer(*s3_error(503, "SlowDown", "Please reduce your request rate."), times=1)
    client = s3_client(env.s3_proxy.port)
    with pytest.raises(ClientError) as caught:
        client.list_objects_v2(Bucket=env.bucket)
    assert caught.value.response["Error"]["Code"] == "SlowDown"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert client.list_objects_v2(Bucket=env.bucket)["KeyCount"] == 0
    assert rule.hits == 1
    client.close()


def test_rules_apply_to_new_requests_on_an_open_keep_alive_connection(env: Env) -> None:
    # Azurite keeps connections alive (moto closes each one after its response, so S3 cannot show this).
    proxy = env.azure_proxy
    sas = generate_container_sas(
        AZURITE_ACCOUNT,
        env.container,
        account_key=AZURITE_KEY,
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
        permission=ContainerSasPermissions(read=True, write=True, create=True),
    )
    blob_type = {"x-ms-blob-type": "BlockBlob"}
    before = proxy.accepted
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)

    def request(method: str, name: str, **kwargs: Any) -> tuple[int, str | None, bytes]:
        connection.request(method, f"/{AZURITE_ACCOUNT}/{env.container}/{name}?{sas}", **kwargs)
        response = connection.getresponse()
        return response.status, response.getheader("Connection"), response.read()

    # A body by Content-Length, then one chunked (which Azure refuses, wanting a length: what matters is
    # that the parser skips it and finds the next request on the connection).
    assert request("PUT", "sized", body=b"a" * 100_000, headers=blob_type)[0] == 201
    assert (
        request("PUT", "chunked", body=iter([b"x" * 1000, b"y" * 5]), encode_chunked=True, headers=blob_type)[0] == 400
    )
    assert request("GET", "sized")[::2] == (200, b"a" * 100_000)
    rule = proxy.answer(*azure_error(500, "InternalError"), method="GET", path=r"/sized\?")
    status, connection_header, body = request("GET", "sized")
    assert (status, connection_header) == (500, "close") and b"<Code>InternalError</Code>" in body
    connection.close()
    assert proxy.accepted == before + 1 and rule.hits == 1  # all five requests on one connection

    # The SDK's pooled connection too.
    service = azure_client(proxy.port)
    blob = service.get_blob_client(env.container, "b.txt")
    blob.upload_blob(b"b")
    before = proxy.accepted
    proxy.answer(*azure_error(503, "ServerBusy"), times=1)
    with pytest.raises(HttpResponseError) as caught:
        blob.get_blob_properties()
    assert (caught.value.status_code, caught.value.error_code) == (503, "ServerBusy")
    assert proxy.accepted == before  # answered on the connection the upload had opened
    assert blob.download_blob().readall() == b"b"  # on a new connection: the rule was used up
    service.close()


def test_heal_clears_the_rules(env: Env) -> None:
    env.s3_proxy.answer(503)  # every request
    client = s3_client(env.s3_proxy.port)
    with pytest.raises(ClientError):
        client.list_objects_v2(Bucket=env.bucket)
    env.s3_proxy.heal()
    assert env.s3_proxy.rules == []
    assert client.list_objects_v2(Bucket=env.bucket)["KeyCount"] == 0
    client.close()


def test_latency_adds_about_a_round_trip_to_a_small_request(env: Env) -> None:
    env.emulators.s3.put_object(Bucket=env.bucket, Key="small", Body=b"x" * 100)

    def median_get(port: int) -> float:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        samples = []
        for _ in range(6):
            started = time.perf_counter()
            connection.request("GET", f"/{env.bucket}/small")
            connection.getresponse().read()
            samples.append(time.perf_counter() - started)
        connection.close()
        return statistics.median(samples[1:])  # the first one also connects

    shaped = FaultProxy(env.emulators.moto.port, latency=0.05)
    try:
        direct, through = median_get(env.emulators.moto.port), median_get(shaped.port)
    finally:
        shaped.close()
    # 2 x 50 ms, not less; and no Nagle/delayed-ACK stalls or per-chunk sleeps on top (loose: a busy machine).
    assert 0.095 <= through - direct < 0.1 + 0.15, (direct, through)


def test_the_parser_finds_requests_in_any_split() -> None:
    stream = (
        b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
        b"PUT /b HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789"
        b"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n10\r\n" + b"x" * 16 + b"\r\n"
        b"0\r\nX-Trailer: 1\r\n\r\n\r\nHEAD /d HTTP/1.1\r\n\r\n"
    )
    for size in (1, 2, 3, 7, 64, len(stream)):
        parser, out, heads = RequestParser(), [], []
        for start in range(0, len(stream), size):
            for event in parser.feed(stream[start : start + size]):
                out.append(event[-1])
                if event[0] == "head":
                    heads.append((event[1], event[2]))
        assert b"".join(out) == stream
        assert heads == [("GET", "/a?x=1"), ("PUT", "/b"), ("PUT", "/c"), ("HEAD", "/d")]
