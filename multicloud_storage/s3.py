"""The S3 adapter: django-storages' S3Storage with one shared client, bounded timeouts and fast SigV4 URLs."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import botocore
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError, NoCredentialsError, PartialCredentialsError
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

from .cloud import Cloud, Timeouts
from .exceptions import CredentialsUnavailable

_AUTH_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired"}
)
_OUTAGE_TYPES = (
    NoCredentialsError,
    PartialCredentialsError,
    botocore.exceptions.ConnectionError,
    HTTPClientError,
    ConnectionError,
    TimeoutError,
)
_URL_MARKER = "multicloud-url-template"
_SAFE = "-_.~"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it wraps (boto3 wraps upload ClientErrors in S3UploadFailedError)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


class S3Cloud(Cloud, S3Storage):
    name = "s3"

    def __init__(self, *, timeouts: Timeouts, credentials_recheck: float = 30.0, **settings: Any) -> None:
        settings.setdefault("max_memory_size", 2 * 1024 * 1024)  # 0 would keep whole downloads in memory
        super().__init__(**settings)
        bounded = Config(
            connect_timeout=timeouts.connect,
            read_timeout=timeouts.read,
            retries={"max_attempts": timeouts.retries + 1, "mode": "standard"},
        )
        # The user's Config wins, except that every request is SigV4.
        self.client_config: Config = bounded.merge(self.client_config).merge(Config(signature_version="s3v4"))
        self._probe_config = self.client_config.merge(
            Config(connect_timeout=timeouts.probe, read_timeout=timeouts.probe, retries={"max_attempts": 1})
        )
        self._credentials_recheck = credentials_recheck
        self._lock = threading.Lock()
        self._session: Any = None
        self._shared: Any = None
        self._probe_client: Any = None
        self._url_parts: tuple[str, str, str, str] | None = None
        self._credentials: Any = None
        self._credentials_at = float("-inf")
        self._signing_keys: dict[tuple[str, str, str], bytes] = {}

    # One resource (and one thread-safe client) for every thread, built once.
    @property
    def connection(self) -> Any:
        if self._shared is None:
            with self._lock:
                if self._shared is None:
                    self._shared = self._boto_session().resource("s3", **self._client_kwargs())
        return self._shared

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

    def probe(self) -> None:
        if self._probe_client is None:
            with self._lock:
                if self._probe_client is None:
                    self._probe_client = self._boto_session().client(
                        "s3", **self._client_kwargs(self._probe_config)
                    )
        self._probe_client.head_bucket(Bucket=self.bucket_name)

    def is_outage(self, exc: BaseException) -> bool:
        for error in _causes(exc):
            if isinstance(error, ClientError):
                status = _status(error)
                code = str(error.response.get("Error", {}).get("Code", ""))
                return status >= 500 or status in (401, 403) or code in _AUTH_CODES
            if isinstance(error, _OUTAGE_TYPES):
                return True
        return False

    def is_not_found(self, exc: BaseException) -> bool:
        return isinstance(exc, ClientError) and _status(exc) == 404

    # URLs: SigV4 query signing in plain hmac, on the endpoint botocore resolves once.
    def sign_url(self, name: str, expire: int) -> str:
        if self.custom_domain or not self.querystring_auth:
            return S3Storage.url(self, name, expire=expire)  # a public bucket or CloudFront: django-storages' URL
        key = self._normalize_name(clean_name(name))
        scheme, host, prefix, region = self._endpoint()
        credentials = self._frozen_credentials()
        path = prefix + quote(key, safe="/~")
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
        params = [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", f"{credentials.access_key}/{scope}"),
            ("X-Amz-Date", amz_date),
            ("X-Amz-Expires", str(expire)),
            ("X-Amz-SignedHeaders", "host"),
        ]
        if credentials.token:
            params.append(("X-Amz-Security-Token", credentials.token))
            params.sort()
        query = "&".join(f"{k}={quote(v, safe=_SAFE)}" for k, v in params)
        canonical = f"GET\n{path}\n{query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signing_key = self._signing_key(credentials.secret_key, amz_date[:8], region)
        signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
        return f"{scheme}://{host}{path}?{query}&X-Amz-Signature={signature}"

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

    def _frozen_credentials(self) -> Any:
        credentials = self._credentials
        if credentials is None and time.monotonic() - self._credentials_at >= self._credentials_recheck:
            # The provider chain can be slow (instance metadata); a miss is remembered for a while.
            with self._lock:
                self._credentials_at = time.monotonic()
                credentials = self._credentials = self._boto_session().get_credentials()
        if credentials is None:
            raise CredentialsUnavailable("no AWS credentials were found")
        frozen = credentials.get_frozen_credentials()
        if not (frozen.access_key and frozen.secret_key):
            raise CredentialsUnavailable("the AWS credentials are incomplete")
        return frozen

    def _signing_key(self, secret: str, date: str, region: str) -> bytes:
        cache_key = (secret, date, region)
        signing_key = self._signing_keys.get(cache_key)
        if signing_key is None:
            signing_key = ("AWS4" + secret).encode()
            for part in (date, region, "s3", "aws4_request"):
                signing_key = hmac.new(signing_key, part.encode(), hashlib.sha256).digest()
            self._signing_keys = {cache_key: signing_key}  # one day, one key: replace, never grow
        return signing_key

    def __repr__(self) -> str:
        return f"<S3Cloud bucket={self.bucket_name!r}>"
