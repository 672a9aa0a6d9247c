from django.contrib import admin

from .models import BotDebugScreenshot, Recording


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    list_display = ["title", "file", "mirrors", "created_at"]
    readonly_fields = ["mirrors"]


@admin.register(BotDebugScreenshot)
class BotDebugScreenshotAdmin(admin.ModelAdmin):
    list_display = ["caption", "image", "image_locations", "debug_video", "debug_video_locations"]
    readonly_fields = ["image_locations", "debug_video_locations"]
