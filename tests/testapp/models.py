from django.db import models

from multicloud_storage.fields import MirrorLocationField


class Recording(models.Model):
    file = models.FileField(upload_to="recordings/")
    mirrors = MirrorLocationField(file_field="file")


class BotDebugScreenshot(models.Model):
    """A second model: an image and a video, each with its own column under another name."""

    mirror_of_image = MirrorLocationField(file_field="image")  # declared before its file field on purpose
    image = models.ImageField(upload_to="screenshots/")
    video = models.FileField(upload_to="debug/", blank=True)
    video_clouds = MirrorLocationField(file_field="video")


class Attachment(models.Model):
    """A model without the column: the backend assumes every cloud of the mode holds the file."""

    file = models.FileField(upload_to="attachments/")
