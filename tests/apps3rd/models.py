"""Models of the drop-in tests: what a django-storages project has, plus the one column per file."""

from django.db import models
from django_cleanup import cleanup

from multicloud_storage.fields import MirrorLocationField


class Photo(models.Model):
    """An image: thumbnails (sorl-thumbnail), the REST API (DRF), the admin."""

    title = models.CharField(max_length=100, blank=True)
    image = models.ImageField(upload_to="photos/")
    image_mirrors = MirrorLocationField(file_field="image")


@cleanup.select  # django-cleanup runs in select mode: only this model, the rest of the suite keeps its files
class Document(models.Model):
    """A file that django-cleanup deletes when it is replaced or its row deleted; the admin can clear it."""

    title = models.CharField(max_length=100, blank=True)
    file = models.FileField(upload_to="documents/", blank=True)
    mirrors = MirrorLocationField(file_field="file")
