from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from multicloud_storage import NoReplicaAvailable

from . import faults
from .forms import RecordingForm, ScreenshotForm
from .models import BotDebugScreenshot, Recording


def cloud_of(url: str) -> str:
    query = urlsplit(url).query
    if "X-Amz-Signature=" in query:
        return "s3"
    if "sig=" in query:
        return "azure"
    return "unsigned" if url else "none"


def media(file: Any) -> dict[str, Any]:
    """A file's URL, the cloud it points to, and where the row says copies are."""
    try:
        url = file.url
    except NoReplicaAvailable:
        url = ""
    locations = getattr(file.instance, file.field._mirror_location_attname, None)
    return {"url": url, "cloud": cloud_of(url), "locations": "unknown (NULL)" if locations is None else str(locations)}


def _status() -> dict[str, Any]:
    storage = faults.current_storage()
    return {
        "mode": storage.mode,
        "clouds": storage.health_status(),
        "faults": faults.state() if faults.available() else None,
    }


def media_list(request: HttpRequest) -> HttpResponse:
    recordings = [(r, media(r.file)) for r in Recording.objects.order_by("id")]
    screenshots = [
        (s, media(s.image), media(s.debug_video) if s.debug_video else None)
        for s in BotDebugScreenshot.objects.order_by("id")
    ]
    return render(request, "meetings/list.html", {"recordings": recordings, "screenshots": screenshots, **_status()})


def status(request: HttpRequest) -> HttpResponse:
    return render(request, "meetings/status.html", _status())


def upload(request: HttpRequest) -> HttpResponse:
    recording_form = RecordingForm(prefix="recording")
    screenshot_form = ScreenshotForm(prefix="screenshot")
    if request.method == "POST":
        form_class, prefix = (RecordingForm, "recording") if "recording" in request.POST else (ScreenshotForm, "screenshot")
        form = form_class(request.POST, request.FILES, prefix=prefix)
        if form.is_valid():
            form.save()
            return redirect("list")
        recording_form, screenshot_form = (form, screenshot_form) if prefix == "recording" else (recording_form, form)
    return render(request, "meetings/upload.html", {"recording_form": recording_form, "screenshot_form": screenshot_form})


@require_POST
def fault(request: HttpRequest, cloud: str, fault: str) -> HttpResponse:
    if not faults.available():
        return HttpResponseBadRequest("Faults can be injected only when the demo runs the emulators (demo.py).")
    try:
        faults.apply(cloud, fault)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    return redirect(request.POST.get("next") or "list")
