from django.apps import AppConfig


class MultiCloudStorageConfig(AppConfig):
    name = "multicloud_storage"
    verbose_name = "Multi-cloud storage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import logging

        from . import checks  # noqa: F401 - registers the system checks
        from .exceptions import RedactingFilter

        for name in ("botocore.endpoint", "botocore.auth"):  # they log request headers at DEBUG
            logging.getLogger(name).addFilter(RedactingFilter())
