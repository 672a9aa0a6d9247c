"""Every option of MultiCloudStorage, its default, and its validation: the whole configuration surface.

Options come from the constructor's kwargs (the ``OPTIONS`` of a ``STORAGES`` entry), over the
``MULTICLOUD_STORAGE`` setting, over the defaults below. ``mode`` also falls back to the
``STORAGE_UPLOAD_MODE`` environment variable before its default.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Cloud = Literal["s3", "azure"]
CLOUDS: tuple[str, ...] = ("s3", "azure")
MODES: dict[str, tuple[str, ...]] = {"s3": ("s3",), "azure": ("azure",), "both": ("s3", "azure")}
WRITE_POLICIES = ("any", "all")
MIRRORS = ("sync", "background")
REPAIRS = ("none", "task")
URL_MODES = ("direct", "redirect")
MODE_ENV_VAR = "STORAGE_UPLOAD_MODE"
MAX_EXPIRE = 7 * 24 * 3600  # S3 refuses longer presigns; a user-delegation SAS cannot outlive its 7-day key
HTTP_METHODS = ("GET", "HEAD")

# Keys (of the ``s3`` and ``azure`` dicts) never shown in deconstruct(), repr() or messages.
SECRET_KEYS = frozenset(
    {
        "access_key",
        "secret_key",
        "security_token",
        "account_key",
        "connection_string",
        "sas_token",
        "token_credential",
        "cloudfront_key",
    }
)


def get_default_options() -> dict[str, Any]:
    return {
        "mode": None,  # None: $STORAGE_UPLOAD_MODE, else "both"
        "s3": {},  # kwargs for storages.backends.s3.S3Storage
        "azure": {},  # kwargs for AzureStorage, plus account_url, token_credential="default", public
        "read_order": ["s3", "azure"],
        "write_policy": "any",
        "url_expire": 3600,
        "health_check_interval": 30.0,
        "connect_timeout": 2.0,  # seconds, per attempt, both clouds
        "read_timeout": 5.0,  # seconds without an answer, per attempt, both clouds
        "retries": 1,  # retries after the first attempt, both clouds
        "probe_timeout": 1.0,  # seconds a health probe (or a url() waiting for an Azure AD key) may take
        "failover_after": 1.0,  # seconds a read waits for a cloud before also asking the next
        "file_overwrite": False,  # False: Django's rule, a taken name gets a new one, free in every cloud
        "shared_cache": None,  # a CACHES alias every process shares: health verdicts and probe leases
        "mirror": "sync",  # "sync": every cloud during save; "background": the first, the others by a task
        "repair": "none",  # "task": a save or delete that missed a cloud enqueues its own repair
        "url_mode": "direct",  # "redirect": url() links to this app's view, which picks the cloud at the click
        "redirect_base_url": "/files/",  # where multicloud_storage.urls is mounted (a path, or an http(s) URL)
        "redirect_target_expire": 300,  # seconds the cloud URL behind a click works
        "redirect_verify": False,  # HEAD the object on the chosen cloud before redirecting to it
    }


@dataclass(frozen=True)
class Options:
    mode: str
    s3: dict[str, Any]
    azure: dict[str, Any]
    read_order: tuple[str, ...]
    write_policy: str
    url_expire: int
    health_check_interval: float
    connect_timeout: float
    read_timeout: float
    retries: int
    probe_timeout: float
    failover_after: float
    file_overwrite: bool
    shared_cache: str | None
    mirror: str
    repair: str
    url_mode: str = "direct"
    redirect_base_url: str = "/files/"
    redirect_target_expire: int = 300
    redirect_verify: bool = False
    clouds: tuple[str, ...] = field(init=False)  # the clouds of the mode, in read order

    def __post_init__(self) -> None:
        object.__setattr__(self, "clouds", tuple(c for c in self.read_order if c in MODES[self.mode]))

    def __repr__(self) -> str:
        shown = {name: redacted(value) if name in ("s3", "azure") else value for name, value in self.__dict__.items()}
        return f"Options({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


def redacted(cloud_options: Mapping[str, Any]) -> dict[str, Any]:
    """A cloud's options with every secret replaced by '<redacted>' (for repr, messages and commands)."""
    return {k: "<redacted>" if k in SECRET_KEYS and v else v for k, v in cloud_options.items()}


@dataclass(frozen=True)
class Problem:
    """A configuration problem; ``id`` is the system check id (multicloud_storage.E0xx / W0xx)."""

    id: str
    msg: str
    hint: str = ""

    @property
    def is_error(self) -> bool:
        return ".E" in self.id


def merge(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults, then the MULTICLOUD_STORAGE setting, then kwargs; each key replaces the one before.

    The ``s3`` and ``azure`` dicts are replaced whole, never mixed: one configuration's account key
    must not sit beside another's token credential.
    """
    merged = {**get_default_options(), **(getattr(settings, "MULTICLOUD_STORAGE", None) or {}), **kwargs}
    if merged["mode"] is None:
        merged["mode"] = os.environ.get(MODE_ENV_VAR) or "both"
    return merged


def _setting(name: str) -> Any:
    return getattr(settings, name, None)


def find_problems(raw: Mapping[str, Any]) -> list[Problem]:
    """Everything wrong with merged options, without contacting any cloud."""
    problems: list[Problem] = []
    unknown = sorted(set(raw) - set(get_default_options()))
    if unknown:
        problems.append(
            Problem(
                "multicloud_storage.E007",
                f"Unknown MultiCloudStorage option(s): {', '.join(unknown)}.",
                f"Allowed options: {', '.join(sorted(get_default_options()))}.",
            )
        )
    mode = raw.get("mode")
    if mode not in MODES:
        problems.append(
            Problem(
                "multicloud_storage.E001",
                f"Unknown storage mode {mode!r}.",
                f"Use one of {', '.join(repr(m) for m in MODES)} (option 'mode' or ${MODE_ENV_VAR}).",
            )
        )
    order = raw.get("read_order")
    if not isinstance(order, (list, tuple)) or sorted(order) != sorted(CLOUDS):
        problems.append(
            Problem(
                "multicloud_storage.E005",
                f"Invalid read_order {order!r}.",
                "Use ['s3', 'azure'] or ['azure', 's3'].",
            )
        )
    if raw.get("write_policy") not in WRITE_POLICIES:
        problems.append(
            Problem(
                "multicloud_storage.E006",
                f"Unknown write_policy {raw.get('write_policy')!r}.",
                "Use 'any' or 'all'.",
            )
        )
    positive = (
        "url_expire",
        "health_check_interval",
        "connect_timeout",
        "read_timeout",
        "probe_timeout",
        "failover_after",
        "redirect_target_expire",
    )
    for key in positive:
        value = raw.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            problems.append(
                Problem("multicloud_storage.E008", f"Option {key!r} must be a positive number, not {value!r}.")
            )
    expire = raw.get("url_expire")
    if isinstance(expire, (int, float)) and expire > MAX_EXPIRE:
        problems.append(
            Problem(
                "multicloud_storage.E013",
                f"url_expire={expire!r} is longer than 7 days ({MAX_EXPIRE} s).",
                "S3 refuses longer presigned URLs and an Azure user-delegation SAS cannot outlive its 7-day key.",
            )
        )
    for key, allowed in (("mirror", MIRRORS), ("repair", REPAIRS)):
        if raw.get(key) not in allowed:
            problems.append(
                Problem(
                    "multicloud_storage.E006",
                    f"Unknown {key} {raw.get(key)!r}.",
                    f"Use {' or '.join(repr(a) for a in allowed)}.",
                )
            )
    if raw.get("mirror") == "background" and raw.get("write_policy") == "all":
        problems.append(
            Problem(
                "multicloud_storage.E015",
                "mirror='background' stores a save in one cloud first, which write_policy='all' forbids.",
                "Use write_policy='any' with background mirroring.",
            )
        )
    cache = raw.get("shared_cache")
    if cache is not None and (not isinstance(cache, str) or cache not in (_setting("CACHES") or {"default": {}})):
        problems.append(
            Problem(
                "multicloud_storage.E016",
                f"shared_cache={cache!r} is not an alias of settings.CACHES.",
                "Name a cache every process shares (Redis, Memcached, database), e.g. 'default'.",
            )
        )
    problems += _url_mode_problems(raw)
    retries = raw.get("retries")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        problems.append(
            Problem("multicloud_storage.E008", f"Option 'retries' must be an integer >= 0, not {retries!r}.")
        )
    for key in ("s3", "azure"):
        if not isinstance(raw.get(key), Mapping):
            problems.append(Problem("multicloud_storage.E009", f"Option {key!r} must be a dict of keyword arguments."))
    if problems or mode not in MODES:
        return problems

    clouds = MODES[mode]
    s3, azure = raw["s3"], raw["azure"]
    for key, cloud_options in (("file_overwrite", s3), ("overwrite_files", azure)):
        if key in cloud_options:
            problems.append(
                Problem(
                    "multicloud_storage.W005",
                    f"The {'s3' if cloud_options is s3 else 'azure'} option {key!r} is not used: names are chosen "
                    "for every cloud at once.",
                    "Use the storage's own option file_overwrite (default False: Django's no-overwrite rule).",
                )
            )
    if "s3" in clouds and (s3.get("gzip") or _setting("AWS_IS_GZIPPED")):
        problems.append(
            Problem(
                "multicloud_storage.E014",
                "The S3 option gzip stores compressed bytes in S3 only: the copies would differ.",
                "Remove gzip (and AWS_IS_GZIPPED); compress before saving if you need it.",
            )
        )
    if (
        "s3" in clouds
        and (s3.get("custom_domain") or _setting("AWS_S3_CUSTOM_DOMAIN"))
        and not (s3.get("cloudfront_key") or _setting("AWS_CLOUDFRONT_KEY"))
        and s3.get("querystring_auth", _setting("AWS_QUERYSTRING_AUTH")) is not False
    ):
        problems.append(
            Problem(
                "multicloud_storage.W002",
                "S3 custom_domain without CloudFront keys gives unsigned URLs: a private bucket refuses them.",
                "Set cloudfront_key and cloudfront_key_id, or querystring_auth=False for a public bucket.",
            )
        )
    if "s3" in clouds and not (s3.get("bucket_name") or _setting("AWS_STORAGE_BUCKET_NAME")):
        problems.append(
            Problem(
                "multicloud_storage.E002",
                f"Mode {mode!r} writes to S3 but no bucket is configured.",
                "Set OPTIONS['s3']['bucket_name'] (or AWS_STORAGE_BUCKET_NAME).",
            )
        )
    if "azure" in clouds:
        if not (azure.get("azure_container") or _setting("AZURE_CONTAINER")):
            problems.append(
                Problem(
                    "multicloud_storage.E003",
                    f"Mode {mode!r} writes to Azure but no container is configured.",
                    "Set OPTIONS['azure']['azure_container'] (or AZURE_CONTAINER).",
                )
            )
        credentials = ("connection_string", "account_key", "sas_token", "token_credential")
        if not any(azure.get(k) or _setting(f"AZURE_{k.upper()}") for k in credentials):
            problems.append(
                Problem(
                    "multicloud_storage.E004",
                    f"Mode {mode!r} writes to Azure but no usable Azure credential is configured.",
                    "Set one of connection_string, account_key, sas_token or token_credential "
                    "(an azure-core TokenCredential, or 'default' for DefaultAzureCredential).",
                )
            )
        if not (
            azure.get("account_name")
            or azure.get("account_url")
            or azure.get("connection_string")
            or _setting("AZURE_ACCOUNT_NAME")
            or _setting("AZURE_CONNECTION_STRING")
        ):
            problems.append(
                Problem(
                    "multicloud_storage.E010",
                    f"Mode {mode!r} writes to Azure but no storage account is configured.",
                    "Set account_name, account_url or connection_string.",
                )
            )
    return problems


def valid_base_url(value: object) -> TypeGuard[str]:
    """A path ending in '/' ('/files/'), or an http(s) URL ending in '/' (no query, no fragment)."""
    if not isinstance(value, str) or not value.endswith("/"):
        return False
    parts = urlsplit(value)
    if parts.query or parts.fragment or "?" in value or "#" in value:
        return False
    if value.startswith("/"):
        return not value.startswith("//")  # '//host/' is a URL of another site, not a path
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _url_mode_problems(raw: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    mode = raw.get("url_mode")
    if mode not in URL_MODES:
        problems.append(
            Problem("multicloud_storage.E018", f"Unknown url_mode {mode!r}.", "Use 'direct' or 'redirect'.")
        )
    if mode != "redirect":
        return problems
    base = raw.get("redirect_base_url")
    if not valid_base_url(base):
        problems.append(
            Problem(
                "multicloud_storage.E019",
                f"redirect_base_url={base!r} is not a path or an http(s) URL ending with '/'.",
                "Use where multicloud_storage.urls is mounted, e.g. '/files/' or 'https://app.example.com/files/'.",
            )
        )
    target: Any = raw.get("redirect_target_expire")
    expire: Any = raw.get("url_expire")
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (target, expire)) and target > expire:
        problems.append(
            Problem(
                "multicloud_storage.E021",
                f"redirect_target_expire={target!r} is longer than url_expire={expire!r}.",
                "The cloud URL behind a click should live minutes (default 300 s); url_expire is the link's life.",
            )
        )
    return problems


def resolve(kwargs: Mapping[str, Any]) -> Options:
    """Merged, validated options; ImproperlyConfigured names the first problem and its fix."""
    raw = merge(kwargs)
    errors = [p for p in find_problems(raw) if p.is_error and p.id != "multicloud_storage.E004"]
    if errors:
        first = errors[0]
        raise ImproperlyConfigured(f"{first.msg} {first.hint}".strip() + f" [{first.id}]")
    return Options(
        mode=raw["mode"],
        s3=dict(raw["s3"]),
        azure=dict(raw["azure"]),
        read_order=tuple(raw["read_order"]),
        write_policy=raw["write_policy"],
        url_expire=int(raw["url_expire"]),
        health_check_interval=float(raw["health_check_interval"]),
        connect_timeout=float(raw["connect_timeout"]),
        read_timeout=float(raw["read_timeout"]),
        retries=raw["retries"],
        probe_timeout=float(raw["probe_timeout"]),
        failover_after=float(raw["failover_after"]),
        file_overwrite=bool(raw["file_overwrite"]),
        shared_cache=raw["shared_cache"],
        mirror=raw["mirror"],
        repair=raw["repair"],
        url_mode=raw["url_mode"],
        redirect_base_url=raw["redirect_base_url"],
        redirect_target_expire=int(raw["redirect_target_expire"]),
        redirect_verify=bool(raw["redirect_verify"]),
    )


def check_expire(expire: object) -> int:
    """An ``expire`` given to url(): a whole number of seconds, 1 to 7 days."""
    if isinstance(expire, bool) or not isinstance(expire, int) or not 0 < expire <= MAX_EXPIRE:
        raise ValueError(f"expire must be a number of seconds from 1 to {MAX_EXPIRE} (7 days), not {expire!r}.")
    return expire


def check_method(method: str | None) -> str:
    method = (method or "GET").upper()
    if method not in HTTP_METHODS:
        raise ValueError(f"URLs are for reading: http_method must be GET or HEAD, not {method!r} (write with save()).")
    return method


def _connection_field(connection_string: str, field_name: str) -> str:
    for part in connection_string.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == field_name.lower():
            return value.strip()
    return ""


def scope_of(cloud: str, options: Options) -> str:
    """A short, secret-free id of where a cloud's files live (shared health keys, tokens)."""
    if cloud == "s3":
        s3 = options.s3
        parts = [
            s3.get("endpoint_url") or "",
            s3.get("bucket_name") or _setting("AWS_STORAGE_BUCKET_NAME") or "",
            s3.get("location") or "",
        ]
    else:
        azure = options.azure
        connection = azure.get("connection_string") or _setting("AZURE_CONNECTION_STRING") or ""
        account = (
            azure.get("account_url")
            or azure.get("account_name")
            or _setting("AZURE_ACCOUNT_NAME")
            or _connection_field(connection, "BlobEndpoint")
            or _connection_field(connection, "AccountName")
        )
        parts = [
            account or "",
            azure.get("azure_container") or _setting("AZURE_CONTAINER") or "",
            azure.get("location") or "",
        ]
    return f"{cloud}:" + hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:16]
