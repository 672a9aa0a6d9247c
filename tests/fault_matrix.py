"""The fault matrix: for each fault of one cloud and each operation, the outcome and its time bound.

The single source of the README's table (``python -m tests.fault_matrix`` prints it) and of what
``tests/test_faults.py`` checks, cell by cell, against the emulators through the fault proxies.
"""

from __future__ import annotations

FAULTS = {
    "refused": "connections refused",
    "hung": "connections accepted, never answered",
    "reset": "connections reset",
    "5xx": "every request answered 503 (S3 SlowDown, Azure ServerBusy)",
    "credentials missing": "no credentials (S3: none found; Azure: no key, anonymous)",
    "credentials wrong": "credentials refused (S3: 403 InvalidAccessKeyId; Azure: a wrong account key)",
    "credentials expiring": "credentials expired (S3: 400 ExpiredToken; Azure: 403 AuthenticationFailed)",
    "403 on one object": "403 on one object only (S3 AccessDenied, Azure AuthorizationPermissionMismatch)",
}
OPERATIONS = [
    "save, both, any",
    "save, both, all",
    "save, its mode",
    "save, other mode",
    "url",
    "open + read",
    "exists",
    "size",
    "listdir",
    "delete",
]

# Bounds, in the options' terms: F = failover_after, P = probe_timeout, A = attempts (retries + 1),
# C = connect_timeout, R = retries (each retry waits at most about 1 s).
BOUND_TEXT = {
    "instant": "no wait",
    "first credentials": "≤ P (once)",
    "retries": "≤ A·C + R s",
    "silent": "≤ F + P",
    "failover": "≤ F + the other cloud",
}


def bound_class(fault: str, operation: str) -> str:
    if operation == "url":
        return "first credentials" if fault == "credentials missing" else "instant"
    if operation == "save, other mode":
        return "instant" if fault != "403 on one object" else "retries"
    if fault == "hung":
        return "failover" if operation in ("open + read", "size") else "silent"
    return "retries"


def bound_seconds(kind: str, *, F: float, P: float, A: int, C: float, R: int, other: float = 0.5) -> float:
    """The bound in seconds for the test's options, plus the slack a loaded 2-core machine needs."""
    slack = 1.0
    return {
        "instant": 0.05 + slack,
        "first credentials": P + slack,
        "retries": A * C + R * 1.0 + slack,
        "silent": F + P + slack,
        "failover": F + other + slack,
    }[kind]


def outcome(fault: str, operation: str) -> str:
    if fault == "403 on one object":
        return {
            "save, both, any": "other cloud only, column says so; this cloud stays up",
            "save, both, all": "ReplicaWriteError, nothing left anywhere",
            "save, its mode": "ReplicaWriteError; the cloud stays up",
            "save, other mode": "stored",
            "url": "this cloud's URL (a 403 on one object is invisible to local signing)",
            "open + read": "bytes from the other cloud",
            "exists": "True (a 403 counts as taken)",
            "size": "from the other cloud",
            "listdir": "both clouds' union",
            "delete": "deleted in the other; PendingDelete here",
        }[operation]
    return {
        "save, both, any": "other cloud only, column says so; cloud marked down",
        "save, both, all": "ReplicaWriteError, nothing left anywhere",
        "save, its mode": "ReplicaWriteError",
        "save, other mode": "stored, this cloud never contacted",
        "url": "the other cloud's URL",
        "open + read": "bytes from the other cloud",
        "exists": "answered by the other cloud",
        "size": "from the other cloud",
        "listdir": "the other cloud's listing",
        "delete": "deleted in the other; PendingDelete here",
    }[operation]


def markdown() -> str:
    header = "| fault of one cloud | " + " | ".join(OPERATIONS) + " |"
    lines = [header, "| --- |" + " --- |" * len(OPERATIONS)]
    for fault in FAULTS:
        cells = [f"{outcome(fault, op)} ({BOUND_TEXT[bound_class(fault, op)]})" for op in OPERATIONS]
        lines.append(f"| **{fault}**: {FAULTS[fault]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
