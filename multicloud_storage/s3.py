"""The S3 adapter: django-storages' S3Storage with one shared client, exact bounds, create-if-absent writes
and SigV4 URLs signed in plain hmac."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import botocore
from botocore import exceptions as boto_errors
from botocore.config import Config
from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import ClientError
from storages.backends.s3 import S3Storage, _filter_download_params

from .cloud import POOL_SIZE, Cloud, Fault, Stat, Timeouts
from .credentials import Renewable
from .exceptions import ContentMismatch, CredentialsUnavailable
from .fanout import COMMIT_READ, MIN_RATE, SINGLE_REQUEST_MAX
from .names import is_plain

PROBE_KEY = ".multicloud-probe"  # never written: a GET of it answers 404 (or 403 without s3:ListBucket)
_DOWNLOAD_CHUNK = 1024 * 1024
# Errors that say the account cannot authenticate, whatever the object: the cloud is down for us.
_ACCOUNT_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "TokenRefreshRequired",
        "InvalidToken",
        "AccountProblem",
        "AllAccessDisabled",
        "InvalidSecurity",
        "RequestTimeTooSkewed",
        "NotSignedUp",
    }
)
_OUTAGE_CODES = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "NoSuchBucket"})
_CREDENTIAL_ERRORS = (
    CredentialsUnavailable,
    boto_errors.NoCredentialsError,
    boto_errors.PartialCredentialsError,
    boto_errors.CredentialRetrievalError,
    boto_errors.UnknownCredentialError,
    boto_errors.TokenRetrievalError,
    boto_errors.RefreshWithMFAUnsupportedError,
    boto_errors.MetadataRetrievalError,
    boto_errors.SSOError,
)
_OUTAGE_ERRORS = (
    boto_errors.ConnectionError,
    boto_errors.HTTPClientError,
    boto_errors.IncompleteReadError,
    ConnectionError,
    TimeoutError,
)
# S3's response overrides, as URL query parameters (what botocore presigns them as).
RESPONSE_PARAMETERS = {
    "ResponseContentDisposition": "response-content-disposition",
    "ResponseContentType": "response-content-type",
    "ResponseCacheControl": "response-cache-control",
    "ResponseContentLanguage": "response-content-language",
    "ResponseContentEncoding": "response-content-encoding",
    "ResponseExpires": "response-expires",
}
_URL_MARKER = "multicloud-url-template"
_SAFE = "-_.~"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Cloud(Cloud, S3Storage):  # type: ignore[misc]  # django-storages ships no types
    name = "s3"

    def __init__(self, *, timeouts: Timeouts, credentials_backoff: float = 30.0, **settings: Any) -> None:
        settings.setdefault("max_memory_size", 2 * 1024 * 1024)
        super().__init__(**settings)
        bounded = Config(
            connect_timeout=timeouts.connect,
            read_timeout=timeouts.read,
            retries={"total_max_attempts": timeouts.attempts, "mode": "standard"},
            max_pool_connections=POOL_SIZE + 4,
        )
        # The user's Config wins, except that every request is SigV4.
        self.client_config: Config = bounded.merge(self.client_config).merge(Config(signature_version="s3v4"))
        # urllib3 sends a request body under the connect timeout, and sendall's timeout is a total: a write's
        # connect timeout allows its body at MIN_RATE; a commit of parts may take COMMIT_READ to answer.
        self._write_config = self.client_config.merge(
            Config(connect_timeout=timeouts.connect + SINGLE_REQUEST_MAX / MIN_RATE)
        )
        self._commit_config = self.client_config.merge(Config(read_timeout=max(timeouts.read, COMMIT_READ)))
        self._probe_config = self.client_config.merge(
            Config(
                connect_timeout=timeouts.probe,
                read_timeout=timeouts.probe,
                retries={"total_max_attempts": 1, "mode": "standard"},
            )
        )
        self._lock = threading.Lock()
        self._session: Any = None
        self._shared: Any = None
        self._probe_client: Any = None
        self._writer: Any = None
        self._committer: Any = None
        self._url_parts: tuple[str, str, str, str] | None = None
        self._signing_keys: dict[tuple[str, str, str | None, str, str], tuple[bytes, str, str]] = {}
        static = None
        if self.access_key and self.secret_key:
            static = ReadOnlyCredentials(self.access_key, self.secret_key, self.security_token or None)
        self._credentials = Renewable(
            self._fetch_credentials,
            what="AWS credentials",
            wait=timeouts.probe,
            backoff=credentials_backoff,
            renew_margin=timedelta(minutes=15),  # botocore's own advisory refresh window
            # Keys given in the settings (or AWS_ACCESS_KEY_ID...) never expire: known now, nothing to fetch. A
            # fetch costs a boto3 session (a CPU-bound second on a loaded machine), which is not an outage.
            known=static,
        )
        if self.querystring_auth and not self.custom_domain:
            self._credentials.prefetch()
        self.start_pool()

    def after_fork(self) -> None:
        super().after_fork()
        self._lock = threading.Lock()
        self._credentials.after_fork()

    def __repr__(self) -> str:
        return f"<S3Cloud bucket={self.bucket_name!r}>"

    # One resource (and one thread-safe client) for every thread, built once.
    @property
    def connection(self) -> Any:
        if self._shared is None:
            with self._lock:
                if self._shared is None:
                    self._shared = self._boto_session().resource("s3", **self._client_kwargs())
        return self._shared

    @property
    def client(self) -> Any:
        return self.connection.meta.client

    def warm(self) -> None:
        self.connection  # noqa: B018 - built on first use

    def _client_with(self, attribute: str, config: Config) -> Any:
        if getattr(self, attribute) is None:
            with self._lock:
                if getattr(self, attribute) is None:
                    setattr(self, attribute, self._boto_session().client("s3", **self._client_kwargs(config)))
        return getattr(self, attribute)

    def _boto_session(self) -> Any:
        if self._session is None:
            self._session = self._create_session()
        return self._session

    def _client_kwargs(self, config: Config | None = None) -> dict[str, Any]:
        return {
            "region_name": self.region_name,
            "use_ssl": self.use_ssl,
            "endpoint_url": self.endpoint_url,
            "config": config or self.client_config,
            "verify": self.verify,
        }

    def key(self, name: str) -> str:
        if is_plain(name):
            return self._key_prefix + name
        return str(self._normalize_name(name))

    @property
    def _key_prefix(self) -> str:
        """The location as a key prefix ('' or 'media/'), computed once."""
        prefix = self.__dict__.get("_prefix_cache")
        if prefix is None:
            prefix = self.__dict__["_prefix_cache"] = str(self._normalize_name("x"))[:-1]
        return prefix

    def classify(self, exc: BaseException) -> Fault | None:
        for error in _causes(exc):
            if isinstance(error, ClientError):
                status, code = _status(error), _code(error)
                if code in _ACCOUNT_CODES:
                    return Fault.CREDENTIALS
                if status >= 500 or code in _OUTAGE_CODES:
                    return Fault.OUTAGE
                if status == 404 or code in ("NoSuchKey", "NotFound"):
                    return Fault.MISSING
                if status in (409, 412) and code in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
                    return Fault.EXISTS
                return Fault.OBJECT  # a 403 on one key (no s3:ListBucket, a KMS key, an ACL) or another 4xx
            if isinstance(error, _CREDENTIAL_ERRORS):
                return Fault.CREDENTIALS
            if isinstance(error, _OUTAGE_ERRORS):
                return Fault.OUTAGE
        return None

    def probe_once(self) -> None:
        """A GET of a key that is never written, answered by any role that can read objects.

        404 (with s3:ListBucket) or 403 AccessDenied (without) both prove that S3 answers and that the
        credentials authenticate; an invalid key, a bad signature, an expired token, 5xx or silence do not.
        """
        self._credentials.get(retry=True)
        try:
            self._client_with("_probe_client", self._probe_config).get_object(
                Bucket=self.bucket_name, Key=self.key(PROBE_KEY), Range="bytes=0-0"
            )
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "AccessDenied", "InvalidRange") or _status(exc) == 404:
                return
            raise

    # Writes -------------------------------------------------------------------------------------

    def write_options(self, name: str, content: Any) -> dict[str, Any]:
        return dict(self._get_write_parameters(self.key(name), content))

    def put(self, name: str, data: bytes, options: dict[str, Any], *, create_only: bool) -> str:
        condition = {"IfNoneMatch": "*"} if create_only else {}
        writer = self._client_with("_writer", self._write_config)
        response = writer.put_object(Bucket=self.bucket_name, Key=self.key(name), Body=data, **options, **condition)
        return str(response.get("ETag", ""))

    def start_parts(self, name: str, options: dict[str, Any]) -> str:
        return str(
            self.client.create_multipart_upload(Bucket=self.bucket_name, Key=self.key(name), **options)["UploadId"]
        )

    def put_part(self, name: str, handle: str, number: int, data: bytes) -> dict[str, Any]:
        response = self._client_with("_writer", self._write_config).upload_part(
            Bucket=self.bucket_name, Key=self.key(name), UploadId=handle, PartNumber=number, Body=data
        )
        part = {"PartNumber": number, "ETag": response["ETag"]}
        part.update({k: v for k, v in response.items() if k.startswith("Checksum") and k != "ChecksumType"})
        return part

    def commit_parts(
        self, name: str, handle: str, parts: list[Any], options: dict[str, Any], *, create_only: bool
    ) -> str:
        condition = {"IfNoneMatch": "*"} if create_only else {}
        response = self._client_with("_committer", self._commit_config).complete_multipart_upload(
            Bucket=self.bucket_name, Key=self.key(name), UploadId=handle, MultipartUpload={"Parts": parts}, **condition
        )
        return str(response.get("ETag", ""))

    def abort_parts(self, name: str, handle: str) -> None:
        self.client.abort_multipart_upload(Bucket=self.bucket_name, Key=self.key(name), UploadId=handle)

    def abort_stale_uploads(self, older_than: datetime) -> int:
        """Abort unfinished multipart uploads under ``location`` started before ``older_than`` (a killed save's)."""
        prefix = self.key(PROBE_KEY)[: -len(PROBE_KEY)]
        aborted = 0
        for page in self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket_name, Prefix=prefix
        ):
            for upload in page.get("Uploads", ()):
                if upload["Initiated"] < older_than:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket_name, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted += 1
        return aborted

    # Reads --------------------------------------------------------------------------------------

    def _read_options(self, key: str) -> dict[str, Any]:
        return dict(_filter_download_params(self.get_object_parameters(key)))

    def stat(self, name: str) -> Stat:
        key = self.key(name)
        head = self.client.head_object(Bucket=self.bucket_name, Key=key, **self._read_options(key))
        etag = str(head.get("ETag", "")).strip('"')
        plain = head.get("ServerSideEncryption") != "aws:kms" and not head.get("SSECustomerAlgorithm")
        md5 = bytes.fromhex(etag) if plain and len(etag) == 32 and "-" not in etag else None
        return Stat(
            int(head["ContentLength"]), head["LastModified"], md5, str(head.get("ETag", "")), head.get("ContentType")
        )

    def read_range(self, name: str, offset: int, length: int) -> bytes:
        key = self.key(name)
        response = self.client.get_object(
            Bucket=self.bucket_name, Key=key, Range=f"bytes={offset}-{offset + length - 1}", **self._read_options(key)
        )
        data = response["Body"].read()
        if len(data) != length:
            raise ContentMismatch(f"{name!r} in s3 changed during the copy ({len(data)} bytes, not {length})")
        return bytes(data)

    def open_stream(self, name: str) -> tuple[int, Iterator[bytes]]:
        key = self.key(name)
        response = self.client.get_object(Bucket=self.bucket_name, Key=key, **self._read_options(key))
        return int(response["ContentLength"]), response["Body"].iter_chunks(_DOWNLOAD_CHUNK)

    def remove(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket_name, Key=self.key(name))

    def list_names(self, path: str) -> tuple[list[str], list[str]]:
        directories, files = self.listdir(path)
        return list(directories), list(files)

    # URLs: SigV4 query signing in plain hmac, on the endpoint botocore resolves once ---------------

    def sign_url(self, name: str, expire: int, parameters: dict[str, str] | None = None, method: str = "GET") -> str:
        query = self._response_query(parameters) if parameters else ""
        if self.custom_domain:
            return str(S3Storage.url(self, name, parameters=parameters, expire=expire))  # CloudFront or plain
        # Credentials first: a URL that cannot be signed never pays for building the endpoint's client.
        credentials = self._credentials.get() if self.querystring_auth else None
        scheme, host, prefix, region = self._endpoint()
        path = prefix + quote(self.key(name), safe="/~")
        if not self.querystring_auth:
            if query:
                raise ValueError(
                    "S3 applies response overrides (parameters) only to signed URLs: "
                    "this bucket is configured public (querystring_auth=False)."
                )
            return f"{scheme}://{host}{path}"
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        signing_key, credential, token = self._signing(credentials, amz_date[:8], region)
        # The canonical query, already in SigV4's order: the X-Amz-* keys sort as written, response-* after them.
        canonical_query = (
            f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={credential}&X-Amz-Date={amz_date}"
            f"&X-Amz-Expires={expire}{token}&X-Amz-SignedHeaders=host{query}"
        )
        canonical = f"{method}\n{path}\n{canonical_query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD"
        scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
        return f"{scheme}://{host}{path}?{canonical_query}&X-Amz-Signature={signature}"

    @staticmethod
    def _response_query(parameters: dict[str, str]) -> str:
        """S3's response overrides as the tail of a canonical query (sorted, each prefixed by '&')."""
        query = []
        for key, value in parameters.items():
            if key not in RESPONSE_PARAMETERS:
                raise ValueError(
                    f"URL parameter {key!r} is not supported; use S3's response overrides: "
                    f"{', '.join(RESPONSE_PARAMETERS)}."
                )
            query.append(f"&{RESPONSE_PARAMETERS[key]}={quote(str(value), safe=_SAFE)}")
        return "".join(sorted(query))

    def _endpoint(self) -> tuple[str, str, str, str]:
        """(scheme, host, path prefix, region) of object URLs, learnt once from an unsigned botocore presign."""
        if self._url_parts is None:
            with self._lock:
                if self._url_parts is None:
                    unsigned = self.client_config.merge(Config(signature_version=botocore.UNSIGNED))
                    client = self._boto_session().client("s3", **self._client_kwargs(unsigned))
                    url = client.generate_presigned_url(
                        "get_object", Params={"Bucket": self.bucket_name, "Key": _URL_MARKER}
                    ).split("?", 1)[0]
                    parts = urlsplit(url[: -len(_URL_MARKER)])
                    self._url_parts = (parts.scheme, parts.netloc, parts.path, client.meta.region_name)
        return self._url_parts

    def _fetch_credentials(self, needed: datetime) -> tuple[Any, datetime | None]:
        credentials = self._boto_session().get_credentials()
        if credentials is None:
            raise CredentialsUnavailable("no AWS credentials were found")
        frozen = credentials.get_frozen_credentials()  # refreshes STS / role / SSO credentials when due
        if not (frozen.access_key and frozen.secret_key):
            raise CredentialsUnavailable("the AWS credentials are incomplete")
        expiry = getattr(credentials, "_expiry_time", None)
        if isinstance(expiry, datetime) and expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=timezone.utc)
        return frozen, expiry if isinstance(expiry, datetime) else None

    def _signing(self, credentials: Any, date: str, region: str) -> tuple[bytes, str, str]:
        """(signing key, quoted credential, '&X-Amz-Security-Token=...' or ''), computed once a day per credentials."""
        cache_key = (credentials.access_key, credentials.secret_key, credentials.token, date, region)
        cached = self._signing_keys.get(cache_key)
        if cached is None:
            signing_key = ("AWS4" + credentials.secret_key).encode()
            for part in (date, region, "s3", "aws4_request"):
                signing_key = hmac.new(signing_key, part.encode(), hashlib.sha256).digest()
            credential = quote(f"{credentials.access_key}/{date}/{region}/s3/aws4_request", safe=_SAFE)
            token = f"&X-Amz-Security-Token={quote(credentials.token, safe=_SAFE)}" if credentials.token else ""
            cached = (signing_key, credential, token)
            self._signing_keys = {cache_key: cached}  # one day, one key: replace, never grow
        return cached
