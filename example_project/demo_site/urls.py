from django.contrib import admin
from django.urls import include, path

from meetings import views

urlpatterns = [
    path("", views.media_list, name="list"),
    path("upload/", views.upload, name="upload"),
    path("status/", views.status, name="status"),
    path("status/live/", views.live, name="live"),
    path("repair/", views.repair_now, name="repair"),
    path("faults/<str:cloud>/<str:fault>/", views.fault, name="fault"),
    path("admin/", admin.site.urls),
    # Redirect links (DEMO_URL_MODE=redirect): the view that picks a healthy cloud when a link is clicked. Mounted in
    # direct mode too: links handed out before a switch back to direct keep working until they expire.
    path("files/", include("multicloud_storage.urls")),
]
