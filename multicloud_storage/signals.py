"""Signals a project can connect to: page someone, or enqueue its own work.

- ``cloud_down(cloud, reason)`` / ``cloud_up(cloud, reason)``: this process's verdict on a cloud changed
  (once per change, never from inside a lock; ``reason`` never holds a secret).
- ``replica_missing(cloud, name, reason)``: a save or a delete left a cloud of the mode without the right
  state for ``name`` (a copy missing, or a copy not deleted); it is recorded for the repair.
"""

from django.dispatch import Signal

cloud_down = Signal()
cloud_up = Signal()
replica_missing = Signal()
