"""Mirror Django files to AWS S3 and Azure Blob Storage, and serve them from a healthy copy."""

from .exceptions import NoReplicaAvailable, ReplicaWriteError
from .storage import MultiCloudStorage, SavedFile

__all__ = ["MultiCloudStorage", "NoReplicaAvailable", "ReplicaWriteError", "SavedFile"]


def _version() -> str:
    """The installed distribution's version (set in pyproject.toml only)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("multicloud-storage")
    except PackageNotFoundError:  # imported from a source tree that is not installed
        return "0+unknown"


__version__ = _version()
