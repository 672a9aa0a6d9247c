"""The origin's two models: meeting recordings, and the bot's debug screenshots (an image and a debug video)."""

from django.db import models

from multicloud_storage.fields import MirrorLocationField


class Recording(models.Model):
    title = models.CharField(max_length=200)
    file = models.FileField(upload_to="recordings/")
    mirrors = MirrorLocationField(file_field="file")  # added by migration 0002
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.title


class BotDebugScreenshot(models.Model):
    caption = models.CharField(max_length=200)
    image = models.ImageField(upload_to="screenshots/")
    image_locations = MirrorLocationField(file_field="image")  # added by migration 0002
    debug_video = models.FileField(upload_to="debug-videos/", blank=True)
    debug_video_locations = MirrorLocationField(file_field="debug_video")  # added by migration 0002
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.caption
