from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import unquote, urlsplit

from django.contrib import messages
from django.core.management import CommandError, call_command
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from multicloud_storage import NoReplicaAvailable
from multicloud_storage.repair import backlog

from . import faults
from .forms import RecordingForm, ScreenshotForm
from .middleware import WENT
from .models import BotDebugScreenshot, Recording


def cloud_of(url: str) -> str:
    """The cloud a URL points to; "redirect" for a redirect link (the cloud is chosen when it is loaded)."""
    parts = urlsplit(url)
    if "X-Amz-Signature=" in parts.query:
        return "s3"
    if "sig=" in parts.query:
        return "azure"
    if url and parts.path.startswith(urlsplit(faults.current_storage().options.redirect_base_url).path):
        return "redirect"
    return "unsigned" if url else "none"


def locations_of(file: Any) -> str:
    locations = getattr(file.instance, file.field._mirror_location_attname, None)
    return "unknown (NULL)" if locations is None else str(locations)


def media(file: Any) -> dict[str, Any]:
    """A file's URL, the cloud it points to, and where the row says copies are."""
    try:
        url = file.url
    except NoReplicaAvailable:
        url = ""
    key = f"{file.instance._meta.model_name}-{file.instance.pk}-{file.field.name}"  # for the live copies
    return {"url": url, "cloud": cloud_of(url), "locations": locations_of(file), "key": key, "link": link_path(url)}


def link_path(url: str) -> str:
    """A redirect link's path as the site receives it (where the middleware notes where it went); else ""."""
    return unquote(urlsplit(url).path) if cloud_of(url) == "redirect" else ""


def _tasks() -> dict[str, Any] | None:
    """The task queue of django-tasks-db (the repairs): what waits, runs, and how it ended."""
    try:
        from django_tasks_db.models import DBTaskResult
    except ImportError:
        return None
    results = DBTaskResult.objects.all()
    waiting = results.filter(status="READY")
    next_run = waiting.filter(run_after__gt=timezone.now()).order_by("run_after").values_list("run_after", flat=True)
    return {
        "waiting": waiting.count(),
        "next_retry_in": round((next_run[0] - timezone.now()).total_seconds()) if next_run else None,
        "running": results.filter(status="RUNNING").count(),
        "done": results.filter(status="SUCCESSFUL").count(),
        "failed": results.filter(status="FAILED").count(),
    }


def _status() -> dict[str, Any]:
    storage = faults.current_storage()
    clouds = storage.health_status()
    options = storage.options
    healthy = [cloud.cloud for cloud in clouds if cloud.up]
    work = backlog(storage)
    return {
        "mode": storage.mode,
        "url_mode": options.url_mode,
        "repair_mode": options.repair,
        "mirror_mode": options.mirror,
        "clicks_go_to": healthy[0] if healthy else (clouds[0].cloud if clouds else "none"),
        "clouds": clouds,
        "faults": faults.state() if faults.available() else None,
        "backlog": [
            {
                "label": label,
                "short": label.split(".", 1)[1],  # Recording.file: the model and its file field
                "unknown": counts["unknown"],
                "missing": {cloud: counts[f"missing_{cloud}"] for cloud in storage.clouds},
            }
            for label, counts in work["models"].items()
        ],
        "pending_deletes": work["pending_deletes"],
        "missing_replicas": work["missing_replicas"],
        "tasks": _tasks(),
    }


def _copies() -> dict[str, str]:
    """Every file's copies, by the key media() gives it: the list page updates them without a reload."""
    copies = {}
    for recording in Recording.objects.order_by("id"):
        copies[f"recording-{recording.pk}-file"] = locations_of(recording.file)
    for shot in BotDebugScreenshot.objects.order_by("id"):
        copies[f"botdebugscreenshot-{shot.pk}-image"] = locations_of(shot.image)
        if shot.debug_video:
            copies[f"botdebugscreenshot-{shot.pk}-debug_video"] = locations_of(shot.debug_video)
    return copies


def media_list(request: HttpRequest) -> HttpResponse:
    recordings = [(r, media(r.file)) for r in Recording.objects.order_by("id")]
    screenshots = [
        (s, media(s.image), media(s.debug_video) if s.debug_video else None)
        for s in BotDebugScreenshot.objects.order_by("id")
    ]
    return render(request, "meetings/list.html", {"recordings": recordings, "screenshots": screenshots, **_status()})


def status(request: HttpRequest) -> HttpResponse:
    return render(request, "meetings/status.html", _status())


def live(request: HttpRequest) -> JsonResponse:
    """What the panel polls every two seconds: its live part (health, backlog, tasks) and every file's copies."""
    context = _status()
    return JsonResponse(
        {
            "panel": render_to_string("meetings/_status.html", context, request=request),
            "copies": _copies(),
            "went": dict(WENT),
        }
    )


def upload(request: HttpRequest) -> HttpResponse:
    recording_form = RecordingForm(prefix="recording")
    screenshot_form = ScreenshotForm(prefix="screenshot")
    if request.method == "POST":
        form_class, prefix = (
            (RecordingForm, "recording") if "recording" in request.POST else (ScreenshotForm, "screenshot")
        )
        form = form_class(request.POST, request.FILES, prefix=prefix)
        if form.is_valid():
            form.save()
            return redirect("list")
        recording_form, screenshot_form = (form, screenshot_form) if prefix == "recording" else (recording_form, form)
    return render(
        request, "meetings/upload.html", {"recording_form": recording_form, "screenshot_form": screenshot_form}
    )


def _back(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("list")


@require_POST
def repair_now(request: HttpRequest) -> HttpResponse:
    """The same repair as `manage.py multicloud_sync` (what cron runs), now, in this process."""
    out = io.StringIO()
    error = None
    try:
        call_command("multicloud_sync", "--json", stdout=out, stderr=io.StringIO())
    except CommandError as exc:  # a non-zero exit status: something is left to do (or a usage error)
        error = str(exc)
    try:
        summary = json.loads(out.getvalue())
    except ValueError:
        summary = None
    text = _summary_text(summary) if summary else ""
    if error:
        messages.warning(request, f"Repair: {error} {text}".strip())
    else:
        messages.success(request, f"Repair: everything is mirrored. {text}".strip())
    return _back(request)


def _summary_text(summary: dict[str, Any]) -> str:
    parts = [
        f"rows checked: {summary['rows_checked']}",
        f"columns backfilled: {summary['columns_backfilled']}",
        f"copies made: {summary['copies_made']} ({summary['bytes_copied']} bytes)",
        f"deletes finished: {summary['deletes_finished']}",
        f"clouds down: {', '.join(summary['clouds_down']) or 'none'}",
    ]
    for key, label in (("lost", "lost"), ("divergent", "divergent"), ("copy_errors", "not copied")):
        if summary.get(key):
            parts.append(f"{label}: {', '.join(item['name'] for item in summary[key])}")
    return "; ".join(parts) + "."


@require_POST
def fault(request: HttpRequest, cloud: str, fault: str) -> HttpResponse:
    if not faults.available():
        return HttpResponseBadRequest("Faults can be injected only when the demo runs the emulators (demo.py).")
    try:
        faults.apply(cloud, fault)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    return _back(request)
