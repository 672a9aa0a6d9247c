from django.contrib import admin

from multicloud_storage.admin import MirrorLocationsFilter, repair_mirrors

from .models import BotDebugScreenshot, Recording

# multicloud_storage registers its own lists (pending deletes, missing copies); django-tasks-db its task results.


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    list_display = ["title", "file", "mirrors", "created_at"]
    list_filter = [MirrorLocationsFilter]  # every copy / missing S3 / missing Azure / unknown
    actions = [repair_mirrors]  # the per-row repair of manage.py multicloud_sync
    readonly_fields = ["mirrors"]


@admin.register(BotDebugScreenshot)
class BotDebugScreenshotAdmin(admin.ModelAdmin):
    list_display = ["caption", "image", "image_locations", "debug_video", "debug_video_locations"]
    list_filter = [MirrorLocationsFilter]
    actions = [repair_mirrors]
    readonly_fields = ["image_locations", "debug_video_locations"]
