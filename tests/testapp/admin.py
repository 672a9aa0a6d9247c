from django.contrib import admin

from multicloud_storage.admin import MirrorLocationsFilter, repair_mirrors

from .models import BotDebugScreenshot, Recording


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    list_display = ["id", "file", "mirrors"]
    list_filter = [MirrorLocationsFilter]
    actions = [repair_mirrors]


@admin.register(BotDebugScreenshot)
class BotDebugScreenshotAdmin(admin.ModelAdmin):
    list_filter = [MirrorLocationsFilter]
    actions = [repair_mirrors]
