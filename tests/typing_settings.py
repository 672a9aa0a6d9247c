"""The settings mypy's Django plugin loads (pyproject.toml): the package and the contrib apps it uses."""

SECRET_KEY = "typing-only-not-a-secret"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "multicloud_storage",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True
