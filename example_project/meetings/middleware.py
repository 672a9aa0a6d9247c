"""Redirect mode: notes where the site sent each media link when it was last loaded, for the list page to show.

The library's view (multicloud_storage.urls) answers a link with a 302 to the cloud it picked; this middleware only
reads that answer. The list page polls the notes (views.live), so each video and image says which cloud its last
load went to, without a page reload.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse

WENT: dict[str, str] = {}  # link path -> the cloud its last redirect went to (this process)
MAX_NOTES = 10_000


def note_redirects(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    from . import faults
    from .views import cloud_of

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        base = urlsplit(faults.current_storage().options.redirect_base_url).path
        if response.status_code == 302 and request.path.startswith(base):
            if len(WENT) >= MAX_NOTES:
                WENT.clear()
            WENT[request.path] = cloud_of(response["Location"])
        return response

    return middleware
