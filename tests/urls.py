from django.contrib import admin
from django.urls import include, path

urlpatterns = [path("admin/", admin.site.urls)]
urlpatterns += [path("api/", include("tests.apps3rd.api"))]  # the drop-in tests (DRF)
urlpatterns += [path("files/", include("multicloud_storage.urls"))]  # redirect links (url_mode="redirect")
