"""The Azure adapter: django-storages' AzureStorage with any endpoint, the same keys as S3, exact bounds,
create-if-absent writes and SAS URLs (account key or Azure AD user-delegation key)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from azure.core import MatchConditions
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import (
    BlobPrefix,
    BlobServiceClient,
    ContentSettings,
    LinearRetry,
    UserDelegationKey,
    generate_blob_sas,
)
from azure.storage.blob._shared.constants import X_MS_VERSION
from storages.backends.azure_storage import AzureStorage

from .cloud import Cloud, Fault, Stat, Timeouts
from .credentials import Renewable, utcnow
from .exceptions import ContentMismatch, CredentialsUnavailable
from .fanout import COMMIT_READ, MIN_RATE
from .names import is_plain

PROBE_BLOB = ".multicloud-probe"  # never written: reading its properties answers 404 (BlobNotFound)
MAX_SAS_LIFETIME = timedelta(days=7)  # a user-delegation key (so its SAS) lives at most 7 days
_CLOCK_SKEW = timedelta(minutes=5)
_CHUNK = 4 * 1024 * 1024
# 401/403 codes that concern the whole account, not one blob: the cloud is down for us.
_ACCOUNT_CODES = frozenset(
    {
        "AuthenticationFailed",
        "InvalidAuthenticationInfo",
        "NoAuthenticationInformation",
        "AuthorizationFailure",
        "AuthorizationSourceIPMismatch",
        "AuthorizationProtocolMismatch",
        "AccountIsDisabled",
        "InsufficientAccountPermissions",
        "KeyVaultEncryptionKeyNotFound",
    }
)
_OUTAGE_CODES = frozenset(
    {"ServerBusy", "OperationTimedOut", "InternalError", "ContainerNotFound", "ContainerBeingDeleted"}
)
SAS_VERSION = X_MS_VERSION  # the service version the SDK signs SAS with
_SAS_HEADER_FIELDS = ("cache_control", "content_disposition", "content_encoding", "content_language", "content_type")
_SAS_HEADER_NAMES = ("rscc", "rscd", "rsce", "rscl", "rsct")
# S3's response overrides and the SAS fields that make Azure answer the same headers (rscd, rsct, ...).
RESPONSE_PARAMETERS = {
    "ResponseContentDisposition": "content_disposition",
    "ResponseContentType": "content_type",
    "ResponseCacheControl": "cache_control",
    "ResponseContentLanguage": "content_language",
    "ResponseContentEncoding": "content_encoding",
}


class AzureCloud(Cloud, AzureStorage):  # type: ignore[misc]  # django-storages ships no types
    name = "azure"

    def __init__(self, *, timeouts: Timeouts, credentials_backoff: float = 30.0, **settings: Any) -> None:
        self.account_url: str | None = settings.pop("account_url", None)
        self.public: bool = bool(settings.pop("public", False))
        if settings.get("token_credential") == "default":
            from azure.identity import DefaultAzureCredential

            settings["token_credential"] = DefaultAzureCredential()
        super().__init__(**settings)
        self.overwrite_files = True  # names are chosen by MultiCloudStorage (create-if-absent writes)
        self._timeouts = timeouts
        self._container_url: str | None = None
        self._sas_key: bytes | None = None
        self._keys: Renewable[UserDelegationKey] = Renewable(
            self._fetch_delegation_key,
            what="Azure AD user delegation key",
            wait=timeouts.probe,
            backoff=credentials_backoff,
            renew_margin=timedelta(hours=1),
        )
        if self.token_credential and not self.account_key and not self.public:
            self._keys.prefetch()
        self.start_pool()

    def after_fork(self) -> None:
        super().after_fork()
        self._keys.after_fork()

    def __repr__(self) -> str:
        return f"<AzureCloud container={self.azure_container!r}>"

    # The same key as S3 for every name: no stripping of dots or slashes (names.canonical refuses those).
    def _get_valid_path(self, name: str) -> str:
        if is_plain(name):
            prefix = self.__dict__.get("_prefix_cache")
            if prefix is None:
                prefix = self.__dict__["_prefix_cache"] = str(self._normalize_name("x"))[:-1]
            return prefix + name
        return str(self._normalize_name(name))

    def key(self, name: str) -> str:
        return self._get_valid_path(name)

    def _blob(self, name: str) -> Any:
        return self.client.get_blob_client(self.key(name))

    def warm(self) -> None:
        self.client  # noqa: B018 - built on first use

    def _get_service_client(self) -> BlobServiceClient:
        """Unlike django-storages: honours client_options with a connection string, and any account_url."""
        options = {
            # The SDK's default policy waits 15 s before its first retry.
            "retry_policy": LinearRetry(
                backoff=0.5,  # type: ignore[arg-type]  # floats work; the SDK's hints say int
                random_jitter_range=0.25,  # type: ignore[arg-type]
                retry_total=self._timeouts.retries,
            ),
            "connection_timeout": self._timeouts.connect,
            "read_timeout": self._timeouts.read,
            "max_single_get_size": _CHUNK,
            "max_chunk_get_size": _CHUNK,
            **(self.client_options or {}),
        }
        if self.connection_string:
            return BlobServiceClient.from_connection_string(self.connection_string, **options)
        account_url = self.account_url or f"{self.azure_protocol}://{self.account_name}.blob.{self.endpoint_suffix}"
        credential: Any = None
        if self.account_key:
            credential = {
                "account_name": self.account_name or self._account_from_url(account_url),
                "account_key": self.account_key,
            }
        elif self.sas_token:
            credential = self.sas_token
        elif self.token_credential:
            credential = self.token_credential
        return BlobServiceClient(account_url, credential=credential, **options)

    @staticmethod
    def _account_from_url(url: str) -> str:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host.replace(".", "").isdigit() or host == "localhost":  # emulator style: /account in the path
            return parts.path.strip("/").split("/")[0]
        return host.split(".")[0]

    def classify(self, exc: BaseException) -> Fault | None:
        if isinstance(exc, CredentialsUnavailable):
            return Fault.CREDENTIALS
        if isinstance(exc, (ResourceExistsError, ResourceModifiedError)):
            return Fault.EXISTS
        if isinstance(exc, HttpResponseError) and (exc.status_code or exc.response is not None):
            status, code = exc.status_code or 0, _code(exc)
            if code in _OUTAGE_CODES or status >= 500:
                return Fault.OUTAGE
            if isinstance(exc, ResourceNotFoundError) or status == 404:
                return Fault.MISSING
            if code in _ACCOUNT_CODES or status == 401:
                return Fault.CREDENTIALS
            return Fault.OBJECT  # a 403 on one blob (AuthorizationPermissionMismatch) or another 4xx
        if isinstance(exc, ClientAuthenticationError):  # raised by a TokenCredential: no token, no service
            return Fault.CREDENTIALS
        if isinstance(exc, (ServiceRequestError, ServiceResponseError, ConnectionError, TimeoutError)):
            return Fault.OUTAGE
        return None

    def probe_once(self) -> None:
        """Properties of a blob that is never written: any role that reads blobs gets 404 for it.

        With Azure AD the probe also needs a user-delegation key: without one no URL can be signed.
        """
        if self.token_credential and not self.account_key and not self.public:
            self._keys.get(utcnow() + timedelta(hours=1), retry=True)
        try:
            self._blob(PROBE_BLOB).get_blob_properties(
                retry_total=0, connection_timeout=self._timeouts.probe, read_timeout=self._timeouts.probe
            )
        except HttpResponseError as exc:
            if _code(exc) in ("BlobNotFound", "AuthorizationPermissionMismatch"):
                return
            raise

    # Writes -------------------------------------------------------------------------------------

    def write_options(self, name: str, content: Any) -> ContentSettings:
        return ContentSettings(**self._get_content_settings_parameters(self.key(name), content))

    def put(self, name: str, data: bytes, options: ContentSettings, *, create_only: bool) -> str:
        response = self._blob(name).upload_blob(
            data,
            length=len(data),
            overwrite=not create_only,
            content_settings=options,
            max_concurrency=1,
            timeout=self.timeout,
            connection_timeout=self._send_timeout(len(data)),
        )
        return str(response.get("etag", ""))

    def start_parts(self, name: str, options: ContentSettings) -> str:
        return uuid.uuid4().hex  # block ids of this upload: <it><part number>, all of one length

    def put_part(self, name: str, handle: str, number: int, data: bytes) -> str:
        block_id = base64.b64encode(f"{handle}{number:06d}".encode()).decode()
        self._blob(name).stage_block(
            block_id, data, length=len(data), timeout=self.timeout, connection_timeout=self._send_timeout(len(data))
        )
        return block_id

    def commit_parts(
        self, name: str, handle: str, parts: list[Any], options: ContentSettings, *, create_only: bool
    ) -> str:
        condition = {"match_condition": MatchConditions.IfMissing} if create_only else {}
        response = self._blob(name).commit_block_list(
            parts,
            content_settings=options,
            timeout=self.timeout,
            read_timeout=max(self._timeouts.read, COMMIT_READ),
            **condition,
        )
        return str(response.get("etag", ""))

    def _send_timeout(self, nbytes: int) -> float:
        """urllib3 sends a body under the connect timeout, and sendall's timeout is a total: allow it at MIN_RATE."""
        return self._timeouts.connect + nbytes / MIN_RATE

    def abort_parts(self, name: str, handle: str) -> None:
        """Nothing to do: Azure discards uncommitted blocks (after 7 days, or at the blob's next commit)."""

    def abort_stale_uploads(self, older_than: datetime) -> int:
        return 0  # uncommitted blocks expire by themselves

    # Reads --------------------------------------------------------------------------------------

    def stat(self, name: str) -> Stat:
        properties = self._blob(name).get_blob_properties(timeout=self.timeout)
        md5 = properties.content_settings.content_md5
        settings = properties.content_settings
        return Stat(
            int(properties.size),
            properties.last_modified,
            bytes(md5) if md5 else None,
            str(properties.etag),
            settings.content_type,
        )

    def read_range(self, name: str, offset: int, length: int) -> bytes:
        data = self._blob(name).download_blob(offset=offset, length=length, max_concurrency=1).readall()
        if len(data) != length:
            raise ContentMismatch(f"{name!r} in azure changed during the copy ({len(data)} bytes, not {length})")
        return bytes(data)

    def open_stream(self, name: str) -> tuple[int, Iterator[bytes]]:
        downloader = self._blob(name).download_blob(max_concurrency=1, timeout=self.timeout)
        return int(downloader.size), downloader.chunks()

    def remove(self, name: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):  # a missing object is not an error
            self._blob(name).delete_blob(timeout=self.timeout)

    def list_names(self, path: str) -> tuple[list[str], list[str]]:
        """Directories and files directly under ``path``, relative to it (like S3Storage.listdir)."""
        prefix = self.key(path) if path else (self.location or "")
        prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        directories, files = [], []
        for item in self.client.walk_blobs(name_starts_with=prefix or None, delimiter="/", timeout=self.timeout):
            relative = item.name[len(prefix) :]
            if isinstance(item, BlobPrefix):
                directories.append(relative.rstrip("/"))
            elif relative:
                files.append(relative)
        return directories, files

    # URLs: a read-only, blob-scoped SAS signed locally ----------------------------------------

    def sign_url(self, name: str, expire: int, parameters: dict[str, str] | None = None, method: str = "GET") -> str:
        overrides: dict[str, Any] = {}
        for key, value in (parameters or {}).items():
            if key not in RESPONSE_PARAMETERS:
                raise ValueError(
                    f"URL parameter {key!r} has no equivalent in an Azure SAS; supported: "
                    f"{', '.join(RESPONSE_PARAMETERS)}."
                )
            overrides[RESPONSE_PARAMETERS[key]] = str(value)
        blob = self.key(name)
        url = self._base_url() + quote(blob, safe="/~")
        if self.public:
            if overrides:
                raise ValueError(
                    "Azure applies response overrides (parameters) only to SAS URLs: "
                    "this container is configured public."
                )
            return url
        expiry = utcnow() + timedelta(seconds=expire)
        protocol = "https" if url.startswith("https:") else None
        signing: dict[str, Any]
        if self.account_key:
            return f"{url}?{self._service_sas(blob, expiry, protocol, overrides)}"
        if self.token_credential:
            delegation = self._keys.get(min(expiry, utcnow() + MAX_SAS_LIFETIME - 2 * _CLOCK_SKEW))
            signing = {"user_delegation_key": delegation}
            expiry = min(expiry, _parse_time(delegation.signed_expiry))  # a SAS never outlives its key
        else:
            raise CredentialsUnavailable("no Azure account key or token credential to sign a SAS with")
        sas = generate_blob_sas(
            self._account(),
            self.azure_container,
            blob,
            permission="r",
            expiry=expiry,
            protocol=protocol,
            **signing,
            **overrides,
        )
        return f"{url}?{sas}"

    def _service_sas(self, blob: str, expiry: datetime, protocol: str | None, overrides: dict[str, str]) -> str:
        """A read-only blob SAS signed with the account key in plain hmac: the string the SDK's
        ``generate_blob_sas`` signs, and the same token (checked against it by the tests), at a tenth of the cost."""
        if self._sas_key is None:
            self._sas_key = base64.b64decode(self.account_key)
        se = expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = [overrides.get(field, "") for field in _SAS_HEADER_FIELDS]
        to_sign = "\n".join(
            [
                "r",
                "",
                se,
                f"/blob/{self._account()}/{self.azure_container}/{blob}",
                "",
                "",
                protocol or "",
                SAS_VERSION,
                "b",
                "",
                "",
                *headers,
            ]
        )
        signature = base64.b64encode(hmac.new(self._sas_key, to_sign.encode(), hashlib.sha256).digest()).decode()
        query = [
            f"se={quote(se, safe='/')}",
            "sp=r",
            *([f"spr={protocol}"] if protocol else []),
            f"sv={SAS_VERSION}",
            "sr=b",
        ]
        query += [
            f"{name}={quote(value, safe='/')}" for name, value in zip(_SAS_HEADER_NAMES, headers, strict=True) if value
        ]
        return "&".join([*query, f"sig={quote(signature, safe='/')}"])

    def _account(self) -> str:
        return str(self.account_name or self.service_client.account_name)

    def _base_url(self) -> str:
        if self._container_url is None:
            parts = urlsplit(self.client.url)
            netloc = self.custom_domain or parts.netloc
            self._container_url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + "/", "", ""))
        return self._container_url

    def _fetch_delegation_key(self, needed: datetime) -> tuple[UserDelegationKey, datetime]:
        now = utcnow()
        expiry = min(max(now + timedelta(days=1), needed + timedelta(hours=2)), now + MAX_SAS_LIFETIME - _CLOCK_SKEW)
        key = self.service_client.get_user_delegation_key(now - _CLOCK_SKEW, expiry, timeout=self._timeouts.probe)
        return key, _parse_time(key.signed_expiry) if key.signed_expiry else expiry


def _code(exc: HttpResponseError) -> str:
    """The service's error code ('BlobNotFound'); the SDK gives an enum (whose str() is its Python name)."""
    code = getattr(exc, "error_code", None)  # set by the storage SDK on every error it raises
    return str(getattr(code, "value", code) or "")


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=utcnow().tzinfo)
