"""The Azure adapter: django-storages' AzureStorage with any endpoint, bounded timeouts and fast SAS URLs."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobPrefix, BlobServiceClient, ContentSettings, LinearRetry, UserDelegationKey, generate_blob_sas
from storages.backends.azure_storage import AzureStorage
from storages.utils import clean_name

from .cloud import Cloud, Timeouts
from .exceptions import CredentialsUnavailable, describe

_OUTAGE_TYPES = (ServiceRequestError, ServiceResponseError, ClientAuthenticationError, ConnectionError, TimeoutError)
_KEY_LIFETIME = timedelta(days=1)
_KEY_RENEW_MARGIN = timedelta(hours=1)
_CLOCK_SKEW = timedelta(minutes=5)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class DelegationKeys:
    """One cached user-delegation key, renewed in the background before it expires.

    A caller waits for a fetch (at most ``wait`` seconds) only when no cached key outlives its URL.
    """

    def __init__(self, fetch: Any, wait: float) -> None:
        self._fetch = fetch
        self._wait = wait
        self._key: UserDelegationKey | None = None
        self._expiry = datetime.min.replace(tzinfo=timezone.utc)
        self._pending: Future[UserDelegationKey] | None = None
        self._lock = threading.Lock()

    def key_for(self, url_expiry: datetime) -> UserDelegationKey:
        key, key_expiry = self._key, self._expiry
        if key is not None and key_expiry >= url_expiry + _KEY_RENEW_MARGIN:
            return key
        pending = self._renew(url_expiry)
        if key is not None and key_expiry >= url_expiry:
            return key
        try:
            return pending.result(timeout=self._wait)
        except FutureTimeout:
            raise CredentialsUnavailable("no user delegation key yet (the fetch is still running)") from None
        except Exception as exc:
            raise CredentialsUnavailable(f"no user delegation key: {describe(exc)}") from exc

    def _renew(self, url_expiry: datetime) -> Future[UserDelegationKey]:
        with self._lock:
            if self._pending is not None and not self._pending.done():
                return self._pending
            pending: Future[UserDelegationKey] = Future()
            self._pending = pending
        now = _utcnow()
        expiry = max(now + _KEY_LIFETIME, url_expiry + 2 * _KEY_RENEW_MARGIN)
        expiry = min(expiry, now + timedelta(days=7) - _CLOCK_SKEW)

        def fetch() -> None:
            try:
                key = self._fetch(now - _CLOCK_SKEW, expiry)
            except BaseException as exc:
                pending.set_exception(exc)
            else:
                self._key, self._expiry = key, expiry
                pending.set_result(key)

        threading.Thread(target=fetch, name="multicloud-delegation-key", daemon=True).start()
        return pending


class AzureCloud(Cloud, AzureStorage):
    name = "azure"

    def __init__(self, *, timeouts: Timeouts, **settings: Any) -> None:
        self.account_url: str | None = settings.pop("account_url", None)
        self.public: bool = bool(settings.pop("public", False))
        if settings.get("token_credential") == "default":
            from azure.identity import DefaultAzureCredential

            settings["token_credential"] = DefaultAzureCredential()
        super().__init__(**settings)
        self.overwrite_files = True  # names are chosen by MultiCloudStorage, free in every cloud
        self._timeouts = timeouts
        self._container_url: str | None = None
        self._keys = DelegationKeys(self._fetch_delegation_key, wait=timeouts.probe)

    def _save(self, name: str, content: Any) -> str:
        """django-storages' _save for the fan-out's stream: no rewind, the length when known, and an
        empty stream sent as empty bytes (the SDK's parallel upload waits forever on an empty stream)."""
        cleaned_name = clean_name(name)
        path = self._get_valid_path(name)
        params = self._get_content_settings_parameters(path, content)
        length = getattr(content, "size", None)
        data: Any = content
        if length is None and hasattr(content, "is_empty") and content.is_empty():
            data, length = b"", 0
        self.client.upload_blob(
            path, data, length=length, content_settings=ContentSettings(**params),
            max_concurrency=self.upload_max_conn, timeout=self.timeout, overwrite=True,
        )
        return cleaned_name

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        """Directories and files directly under ``path``, relative to it (like S3Storage.listdir)."""
        prefix = self._normalize_name(clean_name(path)) if path else (self.location or "")
        prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        directories, files = [], []
        for item in self.client.walk_blobs(name_starts_with=prefix or None, delimiter="/", timeout=self.timeout):
            relative = item.name[len(prefix):]
            if isinstance(item, BlobPrefix):
                directories.append(relative.rstrip("/"))
            elif relative:
                files.append(relative)
        return directories, files

    def _get_service_client(self) -> BlobServiceClient:
        """Unlike django-storages: honours client_options with a connection string, and any account_url."""
        options = {
            # The SDK's default policy waits 15 s before its first retry.
            "retry_policy": LinearRetry(
                backoff=0.5, random_jitter_range=0.25, retry_total=self._timeouts.retries  # type: ignore[arg-type]
            ),
            "connection_timeout": self._timeouts.connect,
            "read_timeout": self._timeouts.read,
            **(self.client_options or {}),
        }
        if self.connection_string:
            return BlobServiceClient.from_connection_string(self.connection_string, **options)
        account_url = self.account_url or f"{self.azure_protocol}://{self.account_name}.blob.{self.endpoint_suffix}"
        credential: Any = None
        if self.account_key:
            credential = {"account_name": self.account_name or self._account_from_url(account_url),
                          "account_key": self.account_key}
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

    def probe(self) -> None:
        self.client.get_container_properties(
            retry_total=0, connection_timeout=self._timeouts.probe, read_timeout=self._timeouts.probe
        )

    def is_outage(self, exc: BaseException) -> bool:
        if isinstance(exc, ResourceNotFoundError):
            return False
        if isinstance(exc, HttpResponseError) and not isinstance(exc, ClientAuthenticationError):
            status = exc.status_code or 0
            return status >= 500 or status in (401, 403)
        return isinstance(exc, _OUTAGE_TYPES)

    def is_not_found(self, exc: BaseException) -> bool:
        return isinstance(exc, ResourceNotFoundError)

    # URLs: a read-only, blob-scoped SAS signed locally.
    def sign_url(self, name: str, expire: int) -> str:
        blob = self._get_valid_path(name)
        url = self._base_url() + quote(blob, safe="/~")
        if self.public:
            return url
        expiry = _utcnow() + timedelta(seconds=expire)
        signing: dict[str, Any]
        if self.account_key:
            signing = {"account_key": self.account_key}
        elif self.token_credential:
            signing = {"user_delegation_key": self._keys.key_for(expiry)}
        else:
            raise CredentialsUnavailable("no Azure account key or token credential to sign a SAS with")
        sas = generate_blob_sas(
            self._account(), self.azure_container, blob, permission="r", expiry=expiry,
            protocol="https" if url.startswith("https:") else None, **signing,
        )
        return f"{url}?{sas}"

    def _account(self) -> str:
        return self.account_name or self.service_client.account_name

    def _base_url(self) -> str:
        if self._container_url is None:
            parts = urlsplit(self.client.url)
            netloc = self.custom_domain or parts.netloc
            self._container_url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + "/", "", ""))
        return self._container_url

    def _fetch_delegation_key(self, start: datetime, expiry: datetime) -> UserDelegationKey:
        return self.service_client.get_user_delegation_key(start, expiry)

    def __repr__(self) -> str:
        return f"<AzureCloud container={self.azure_container!r}>"
