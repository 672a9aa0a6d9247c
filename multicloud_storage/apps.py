from django.apps import AppConfig


class MultiCloudStorageConfig(AppConfig):
    name = "multicloud_storage"
    verbose_name = "Multi-cloud storage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the system checks
