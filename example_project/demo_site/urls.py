from django.contrib import admin
from django.urls import path

from meetings import views

urlpatterns = [
    path("", views.media_list, name="list"),
    path("upload/", views.upload, name="upload"),
    path("status/", views.status, name="status"),
    path("faults/<str:cloud>/<str:fault>/", views.fault, name="fault"),
    path("admin/", admin.site.urls),
]
