"""Redirect links (issue 8): url() in redirect mode against direct mode, and the view's own cost per click.

    python -m benchmarks.bench_redirect          (starts moto server and Azurite; writes its RESULTS.md section)
    python -m benchmarks.bench_redirect --quick  (fewer samples; prints, writes nothing)

Standalone: its own Django settings, no database. url() is local work in both modes (a SigV4 presign or a SAS,
against a signed token), so the emulators only make the setup the real one. The view is called in-process through
Django's WSGIHandler, as a WSGI server would call it: the figures are the app's own work (token check, choice of
cloud, the cloud's signature, Django's request and response), not the network. A trivial view through the same
handler is measured too, so that what Django itself costs per request can be told apart.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
for _var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "STORAGE_UPLOAD_MODE"):
    os.environ.pop(_var, None)
os.environ.update(
    AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent", AWS_EC2_METADATA_DISABLED="true"
)

import django  # noqa: E402
from django.conf import settings  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import include, path  # noqa: E402

from tests.emulators import azure_connection_string, s3_client, start_azurite, start_moto  # noqa: E402

NAME = "recordings/2026/meeting 42 – café.webm"
BODY = b"x" * 1024
KEY = "bench"  # moto accepts any key
BUCKET = CONTAINER = "bench"
OUT = ROOT / "benchmarks" / "RESULTS.md"  # its own section, between markers
MIDDLEWARE = [  # what a typical project runs on every request (startproject's list)
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]


def empty_view(request: Any, **kwargs: str) -> HttpResponse:
    return HttpResponse(b"")


urlpatterns = [
    path("files/", include("multicloud_storage.urls")),
    path("verify/", include("multicloud_storage.urls")),
    path("empty/<str:token>/<path:name>", empty_view),
]


def configure(moto_port: int, azurite_port: int) -> None:
    s3 = {
        "bucket_name": BUCKET,
        "endpoint_url": f"http://127.0.0.1:{moto_port}",
        "access_key": KEY,
        "secret_key": KEY,
        "region_name": "us-east-1",
    }
    azure = {"azure_container": CONTAINER, "connection_string": azure_connection_string(azurite_port)}
    common = {"mode": "both", "s3": s3, "azure": azure, "url_expire": 86400}

    def storage(**options: Any) -> dict[str, Any]:
        return {"BACKEND": "multicloud_storage.MultiCloudStorage", "OPTIONS": {**common, **options}}

    settings.configure(
        SECRET_KEY="bench-only-not-a-secret",
        SECRET_KEY_FALLBACKS=["an-old-key"],  # a rotation in progress: what a link check may cost at most
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        USE_TZ=True,
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sessions",
            "django.contrib.messages",
        ],
        MIDDLEWARE=[],
        STORAGES={
            "default": storage(url_mode="redirect"),
            "verify": storage(url_mode="redirect", redirect_base_url="/verify/", redirect_verify=True),
            "direct": storage(),
            "direct_azure": storage(read_order=["azure", "s3"]),
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
        LOGGING_CONFIG=None,
    )
    django.setup()
    logging.getLogger("multicloud_storage").setLevel(logging.ERROR)  # a probe of an emulator being stopped


def upload(moto_port: int, azurite_port: int) -> None:
    from azure.storage.blob import BlobServiceClient

    s3 = s3_client(moto_port, KEY)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=NAME, Body=BODY)
    azure = BlobServiceClient.from_connection_string(azure_connection_string(azurite_port))
    azure.create_container(CONTAINER).upload_blob(NAME, BODY)
    s3.close()
    azure.close()


def per_call_us(funcs: dict[str, Any], calls: int, repeats: int) -> dict[str, dict[str, float]]:
    """Per call, best and median of ``repeats`` runs, the functions taking turns (a busy machine slows them alike)."""
    runs: dict[str, list[float]] = {label: [] for label in funcs}
    for func in funcs.values():
        func()
    for _ in range(repeats):
        for label, func in funcs.items():
            runs[label].append(timeit.timeit(func, number=calls) / calls * 1e6)
    return {label: {"best": min(us), "median": statistics.median(us)} for label, us in runs.items()}


def wsgi_call(handler: Any, link: str) -> tuple[str, dict[str, str]]:
    """One GET of ``link``'s path, as a WSGI server makes it."""
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "PATH_INFO": unquote_to_bytes(urlsplit(link).path).decode("iso-8859-1"),
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "HTTP_USER_AGENT": "bench",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer["status"], answer["headers"] = status, dict(headers)

    response = handler(environ, start_response)
    b"".join(response)
    response.close()
    return answer["status"], answer["headers"]


def latencies_us(handler: Any, link: str, requests: int) -> dict[str, float]:
    """Per request: wall time, and this thread's CPU time (what the request cost, without the time other
    processes of a busy machine held the core)."""
    for _ in range(200):
        wsgi_call(handler, link)
    wall, cpu = [], []
    for _ in range(requests):
        started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
        wsgi_call(handler, link)
        cpu.append((time.thread_time_ns() - started_cpu) / 1e3)
        wall.append((time.perf_counter_ns() - started) / 1e3)
    wall.sort()
    cpu.sort()
    return {
        "p50": wall[len(wall) // 2],
        "p99": wall[int(len(wall) * 0.99)],
        "mean": statistics.fmean(wall),
        "cpu_p50": cpu[len(cpu) // 2],
        "cpu_p99": cpu[int(len(cpu) * 0.99)],
    }


def measure(calls: int, repeats: int, requests: int) -> dict[str, Any]:
    from django.core.files.storage import storages
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings

    from multicloud_storage import redirect

    load_before = os.getloadavg()[0]
    link_storage, verify, direct, direct_azure = (storages[a] for a in ("default", "verify", "direct", "direct_azure"))
    link = link_storage.url(NAME)
    token = link.split("/")[2]
    assert "X-Amz-Signature" in direct.url(NAME) and "sig=" in direct_azure.url(NAME)

    urls = {
        "direct, S3 presigned GET": lambda: direct.url(NAME),
        "direct, Azure SAS": lambda: direct_azure.url(NAME),
        "redirect link": lambda: link_storage.url(NAME),
        "redirect link, column says both": lambda: link_storage.url(NAME, locations={"s3", "azure"}),
    }
    url_us = per_call_us(urls, calls, repeats)

    parsed = redirect.read_token(token)
    parts = {
        "token check (signature, JSON)": lambda: redirect.read_token(token),
        "choice and S3 signature": lambda: redirect._target(link_storage, parsed, "GET"),
    }
    parts_us = per_call_us(parts, calls, repeats)

    bare = WSGIHandler()
    status, headers = wsgi_call(bare, link)
    assert status.startswith("302") and "X-Amz-Signature" in headers["Location"], (status, headers)
    with override_settings(MIDDLEWARE=MIDDLEWARE):
        stacked = WSGIHandler()
    verifying = verify.url(NAME)
    assert wsgi_call(bare, verifying)[0].startswith("302")
    views = {
        "redirect view, no middleware": (bare, link),
        "trivial view (HttpResponse), no middleware": (bare, link.replace("/files/", "/empty/", 1)),
        "redirect view, startproject's 7 middleware": (stacked, link),
        "redirect view with redirect_verify (+ a HEAD to moto on loopback)": (bare, verifying),
    }
    view_us = {
        label: latencies_us(handler, target, requests // 5 if "verify" in label else requests)
        for label, (handler, target) in views.items()
    }
    return {
        "calls": calls,
        "repeats": repeats,
        "requests": requests,
        "url_us": url_us,
        "parts_us": parts_us,
        "view_us": view_us,
        "link": link,
        "load": (load_before, os.getloadavg()[0]),
        "token_chars": len(token),
        "name_chars": len(NAME),
        "direct_chars": {"S3": len(direct.url(NAME)), "Azure": len(direct_azure.url(NAME))},
    }


def report(result: dict[str, Any], command: str) -> str:
    url_us, view_us = result["url_us"], result["view_us"]
    baseline = url_us["direct, S3 presigned GET"]["best"]
    lines = [
        '## Redirect links (url_mode="redirect")',
        "",
        f"Measured by `{command}` on {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Django {django.get_version()}, against moto server and Azurite on loopback (started by the script).",
        "",
        f"### url(), per call ({result['repeats']} runs of {result['calls']} calls, taking turns)",
        "",
        "| url() | best (µs) | median (µs) | ratio to direct S3 (best) |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {label} | {us['best']:.1f} | {us['median']:.1f} | {us['best'] / baseline:.2f} |"
        for label, us in url_us.items()
    ]
    lines += [
        "",
        "Goal: a redirect link costs at most 1.5x a direct URL. Neither touches the network.",
        "",
        "### The view, per request through Django's WSGIHandler, in-process",
        "",
        f"{result['requests']} GETs of one link after 200 warm-up requests (a fifth of that with redirect_verify); "
        "each time is the whole WSGI call: request, URL resolution, middleware, view, response.",
        "",
        "| request | p50 (µs) | p99 (µs) | mean (µs) | CPU p50 (µs) | CPU p99 (µs) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {label} | {v['p50']:.0f} | {v['p99']:.0f} | {v['mean']:.0f} | {v['cpu_p50']:.0f} | {v['cpu_p99']:.0f} |"
        for label, v in view_us.items()
    ]
    redirect_view = view_us["redirect view, no middleware"]
    trivial = view_us["trivial view (HttpResponse), no middleware"]
    lines += [
        "",
        f"The view's own work, the redirect view less the trivial one through the same handler: "
        f"p50 {redirect_view['p50'] - trivial['p50']:.0f} µs, p99 {redirect_view['p99'] - trivial['p99']:.0f} µs "
        f"(wall); p50 {redirect_view['cpu_p50'] - trivial['cpu_p50']:.0f} µs, "
        f"p99 {redirect_view['cpu_p99'] - trivial['cpu_p99']:.0f} µs (CPU). The load average was "
        f"{result['load'][0]:.1f} / {result['load'][1]:.1f} before / after (other work on the machine).",
    ]
    lines += [
        "",
        "The view's own parts, per call (as url() above):",
        "",
        "| part | best (µs) | median (µs) |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {label} | {us['best']:.1f} | {us['median']:.1f} |" for label, us in result["parts_us"].items()]
    lines += [
        "",
        "Goal: the view's own work (token check, choice, cloud signature; not the network) at most 0.5 ms at p99.",
        "",
        f"Token: {result['token_chars']} characters for a {result['name_chars']}-character name "
        f"(the link is {len(result['link'])}: `/files/<token>/<quoted name>`); "
        f"direct URLs for the same name: S3 {result['direct_chars']['S3']}, Azure {result['direct_chars']['Azure']}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples; print only")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-redirect-"))
    moto, azurite = start_moto(workdir), start_azurite(workdir)
    try:
        configure(moto.port, azurite.port)
        upload(moto.port, azurite.port)
        if args.quick:
            result = measure(calls=500, repeats=3, requests=1000)
        else:
            result = measure(calls=1000, repeats=21, requests=10000)
    finally:
        moto.stop()
        azurite.stop()
    command = "python -m benchmarks.bench_redirect" + (" --quick" if args.quick else "")
    text = report(result, command)
    print(text)
    if not args.quick:
        write_section(text)
        print(f"Written to {OUT.relative_to(ROOT)}")


def write_section(text: str) -> None:
    """Put the redirect section into RESULTS.md between its markers (make bench writes the rest first)."""
    begin, end = "<!-- redirect: python -m benchmarks.bench_redirect -->", "<!-- /redirect -->"
    current = OUT.read_text() if OUT.exists() else ""
    section = f"{begin}\n{text.rstrip()}\n{end}\n"
    if begin in current and end in current:
        current = current[: current.index(begin)] + section + current[current.index(end) + len(end) + 1 :]
    else:
        current = current.rstrip("\n") + "\n\n" + section
    OUT.write_text(current)


if __name__ == "__main__":
    main()
