from django.contrib import admin

from .models import Document, Photo


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["id", "file", "mirrors"]
    readonly_fields = ["mirrors"]


@admin.register(Photo)
class PhotoAdmin(admin.ModelAdmin):
    list_display = ["id", "image", "image_mirrors"]
    readonly_fields = ["image_mirrors"]
