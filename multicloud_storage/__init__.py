"""Mirror Django files to AWS S3 and Azure Blob Storage, and serve them from a healthy copy."""

from .exceptions import NoReplicaAvailable, ReplicaWriteError
from .storage import MultiCloudStorage, SavedFile

__all__ = ["MultiCloudStorage", "NoReplicaAvailable", "ReplicaWriteError", "SavedFile"]
__version__ = "0.1.0"
