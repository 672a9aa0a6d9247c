"""The redirect view, for url_mode="redirect": ``path("files/", include("multicloud_storage.urls"))``.

Mount it at the path of ``redirect_base_url``; a link is ``<token>/<file name>`` below it.
"""

from django.urls import path

from .redirect import serve

app_name = "multicloud_storage"
urlpatterns = [path("<str:token>/<path:name>", serve, name="redirect")]
