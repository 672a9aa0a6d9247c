"""Redirect links (``url_mode="redirect"``): links to this app that choose the cloud when they are clicked.

A direct URL names one cloud when the page is rendered; a link handed out before an outage keeps pointing at
the cloud that went down. A redirect link is ``<redirect_base_url><token>/<quoted name>``: the token,
signed with Django's signing framework (SECRET_KEY, SECRET_KEY_FALLBACKS for rotation, this module's salt),
holds the name, the clouds the column said hold the file, the expiry and the storage's STORAGES alias. The
name at the end is only what the browser saves the file as: the token decides.

At the click, ``serve`` picks a holder as url() does in direct mode (read order, healthy first), optionally
checks the object there (``redirect_verify``), and answers 302 to a short-lived presigned S3 GET or Azure
read-only SAS made by that cloud's ``sign_url``. The Location is always one of the storage's own clouds.
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import hmac
import json
import logging
import math
import time
from collections.abc import Collection
from typing import Any, NamedTuple, cast
from urllib.parse import quote, unquote, urlsplit

from django.conf import settings
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseNotFound, HttpResponseRedirect
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt

from . import conf
from .cloud import Cloud, Fault
from .exceptions import CredentialsUnavailable, NoReplicaAvailable, Stalled, describe
from .s3 import RESPONSE_PARAMETERS
from .storage import MultiCloudStorage

logger = logging.getLogger("multicloud_storage")
SALT = "multicloud_storage.redirect"
BITS = {"s3": 1, "azure": 2}  # the clouds of a token, as one small number; 0: unknown (every cloud of the mode)
MAX_CACHE = 10  # seconds a browser may reuse a redirect: a cached redirect does not fail over
METHODS = ("GET", "HEAD")
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


class Link(NamedTuple):
    alias: str
    name: str
    locations: frozenset[str] | None
    expires: int  # Unix time
    parameters: dict[str, str] | None


# Tokens ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _derived(secret: str | bytes) -> hmac.HMAC:
    """The HMAC of Django's Signer for this salt and secret (salted_hmac's derived key), keyed once."""
    key = hashlib.sha256(force_bytes(SALT + "signer") + force_bytes(secret)).digest()
    return hmac.new(key, digestmod=hashlib.sha256)


def _signature(payload: str, secret: str | bytes) -> str:
    """``signing.Signer(key=secret, salt=SALT).signature(payload)``, without deriving the key again."""
    mac = _derived(secret).copy()
    mac.update(payload.encode())
    return str(signing.b64_encode(mac.digest()).decode())


def make_token(link: Link) -> str:
    """base64url(compact JSON ``[expires, clouds, name, alias?, parameters?]``) ":" HMAC-SHA256.

    Exactly ``signing.Signer(salt=SALT).sign(payload)``, with the derived key cached: url() stays as cheap as a
    presign. The expiry is inside what is signed. No compression: zlib costs ~70 us a call and saves little.
    """
    locations = link.locations
    bits = 0 if locations is None else sum(bit for cloud, bit in BITS.items() if cloud in locations)
    fields: list[Any] = [link.expires, bits, link.name]
    if link.parameters:
        fields += [link.alias, link.parameters]
    elif link.alias != "default":
        fields.append(link.alias)
    payload = signing.b64_encode(_JSON.encode(fields).encode()).decode()
    return f"{payload}:{_signature(payload, settings.SECRET_KEY)}"


def read_token(token: str) -> Link:
    """The link a token holds; BadSignature (tampered, truncated, another key or salt) or ValueError (malformed).

    As ``signing.Signer(salt=SALT).unsign``: SECRET_KEY, then each of SECRET_KEY_FALLBACKS, compared in constant time.
    """
    payload, _, signature = token.rpartition(":")
    keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    if not any(constant_time_compare(signature, _signature(payload, key)) for key in keys):
        raise signing.BadSignature("signature does not match")
    fields = json.loads(signing.b64_decode(payload.encode()).decode())
    if not isinstance(fields, list) or not 3 <= len(fields) <= 5:
        raise ValueError("not a link")
    expires, bits, name, *rest = fields
    alias = rest[0] if rest else "default"
    parameters = rest[1] if len(rest) > 1 else None
    if (
        type(expires) is not int
        or type(bits) is not int
        or not isinstance(name, str)
        or not isinstance(alias, str)
        or not (parameters is None or isinstance(parameters, dict))
    ):
        raise ValueError("not a link")
    locations = None if bits == 0 else frozenset(cloud for cloud, bit in BITS.items() if bits & bit)
    return Link(alias, name, locations, expires, parameters)


# Links (url() in redirect mode: local work only, never the network) ---------------------------


def link(
    storage: MultiCloudStorage,
    name: str,
    expire: int | None,
    parameters: dict[str, str] | None,
    http_method: str | None,
    locations: Collection[str] | None,
) -> str:
    """The link url() returns in redirect mode; ``expire`` (else url_expire) is how long the link works."""
    options = storage.options
    expire = options.url_expire if expire is None else conf.check_expire(expire)
    conf.check_method(http_method)  # the view signs for the method of each request (GET or HEAD)
    if not storage._holders(locations):
        raise NoReplicaAvailable(name, reason="no cloud of the mode holds it")
    alias = storage.alias
    if alias is None:
        raise ImproperlyConfigured(
            "A MultiCloudStorage in url_mode='redirect' must be configured in settings.STORAGES: its links name "
            "the storage by its alias. Use storages['<alias>'] (or default_storage), not MultiCloudStorage(...)."
        )
    if parameters:
        unknown = sorted(set(parameters) - set(RESPONSE_PARAMETERS))
        if unknown:
            raise ValueError(f"URL parameter(s) {unknown!r} not supported; use {', '.join(RESPONSE_PARAMETERS)}.")
        parameters = {key: str(value) for key, value in parameters.items()}
    locations = None if locations is None else frozenset(locations)
    token = make_token(Link(alias, name, locations, int(time.time()) + expire, parameters or None))
    return f"{options.redirect_base_url}{token}/{quote(name, safe='/~')}"


# The click ------------------------------------------------------------------------------------


class _Refused(Exception):
    """The link cannot be served: 404 with an empty body; the reason is logged, never answered."""


@functools.lru_cache(maxsize=16)
def mount_path(base_url: str) -> str:
    """The decoded path part of redirect_base_url: where the view must be reached for a storage's links."""
    return unquote(urlsplit(base_url).path)


@functools.lru_cache(maxsize=16)
def _is_ours(backend: str) -> bool:
    cls = import_string(backend)
    return isinstance(cls, type) and issubclass(cls, MultiCloudStorage)


def _storage(link: Link, request: HttpRequest, token: str, name: str) -> MultiCloudStorage:
    backend = cast(
        "dict[str, Any] | None", storages.backends.get(link.alias)
    )  # another alias is never built: it may not even be able to
    if not backend or not _is_ours(backend["BACKEND"]):
        raise _Refused("not the alias of a MultiCloudStorage")
    storage = cast(MultiCloudStorage, storages[link.alias])
    tail = f"{token}/{name}"
    if not request.path.endswith(tail) or request.path[: -len(tail)] != mount_path(storage.options.redirect_base_url):
        raise _Refused("the storage's links are served at another path")
    return storage


def _verify(storage: MultiCloudStorage, cloud: Cloud, name: str) -> Fault | None:
    """HEAD the object on ``cloud`` within probe_timeout: None when it is there, else what went wrong."""
    timeout = storage.options.probe_timeout
    cloud.warm()  # the clock measures the HEAD, never the building of a client
    future = storage._submit(cloud, lambda c: c.stat(name))
    try:
        future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        storage.health[cloud.name].mark_down(Stalled(f"no answer to a HEAD of the object within {timeout:g} s"))
        return Fault.OUTAGE
    except Exception as exc:  # noqa: BLE001 - classified below; a bug (unclassified) is raised
        fault = cloud.classify(exc)
        if fault is None:
            raise
        if fault.marks_down:
            storage.health[cloud.name].mark_down(exc)
        return fault
    return None


def _target(storage: MultiCloudStorage, link: Link, method: str) -> str:
    """A cloud URL for the link: its holders in read order, healthy first; the first that can sign (and, with
    redirect_verify, has the object) wins. _Refused when the file is known to be nowhere; NoReplicaAvailable
    when nothing can be signed now."""
    holders = storage._holders(link.locations)
    if not holders:
        raise _Refused("no cloud of the mode holds it")
    up = [cloud for cloud in holders if storage.health[cloud.name].is_up()]
    errors: dict[str, str] = {}
    missing = 0
    for cloud in up + [cloud for cloud in holders if cloud not in up]:
        if storage.options.redirect_verify:
            fault = _verify(storage, cloud, link.name)
            if fault is not None:
                missing += fault in (Fault.MISSING, Fault.OBJECT)
                errors[cloud.name] = f"HEAD of the object: {fault.value}"
                continue
        try:
            url = cloud.sign_url(link.name, storage.options.redirect_target_expire, link.parameters, method)
        except (CredentialsUnavailable, ValueError) as exc:  # no key; or parameters this cloud cannot apply
            errors[cloud.name] = describe(exc)
            if cloud in up and isinstance(exc, CredentialsUnavailable):
                storage.health[cloud.name].mark_down(exc)
            continue
        if cloud not in up:
            logger.warning("Every cloud holding %r is marked down; redirecting to %s anyway.", link.name, cloud.name)
        elif errors:
            tried = "; ".join(f"{c}: {e}" for c, e in errors.items())
            logger.info("Failover: redirect of %r to %s (%s).", link.name, cloud.name, tried)
        return url
    if missing == len(holders):
        raise _Refused("the object is in none of its clouds")
    raise NoReplicaAvailable(link.name, errors)


def _empty(response: HttpResponse) -> HttpResponse:
    setattr(response, "_has_been_logged", True)  # noqa: B010 - else django.request logs the path (the token) at WARNING
    return response


@csrf_exempt
def serve(request: HttpRequest, token: str, name: str) -> HttpResponse:
    """GET or HEAD of a link: 302 to a healthy cloud; 404 (empty) for any bad link; 503 when no cloud can sign."""
    if request.method not in METHODS:
        return _empty(HttpResponseNotAllowed(METHODS))
    try:
        try:
            link = read_token(token)
        except (signing.BadSignature, ValueError, UnicodeError):
            raise _Refused("bad signature or malformed token") from None
        if link.expires < time.time():
            raise _Refused("expired")
        storage = _storage(link, request, token, name)
        location = _target(storage, link, request.method)
    except _Refused as refused:
        logger.info("Redirect link refused: %s.", refused)
        return _empty(HttpResponseNotFound())
    except NoReplicaAvailable as exc:
        logger.warning("Redirect link: no cloud can serve it now: %s", exc)
        response = HttpResponse(status=503)
        response["Retry-After"] = str(math.ceil(storage.options.health_check_interval))
        return _empty(response)
    response = HttpResponseRedirect(location)
    max_age = min(MAX_CACHE, storage.options.redirect_target_expire // 2)
    response["Cache-Control"] = f"private, max-age={max_age}"
    response["Referrer-Policy"] = "no-referrer"
    return response
