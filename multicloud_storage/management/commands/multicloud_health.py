"""manage.py multicloud_health: probe each cloud now and show what is left to repair; a monitoring check.

Exit status: 0 every cloud up and nothing missing; 1 degraded (a cloud down, or a backlog); 2 no cloud reachable.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import repair
from ._common import probe_all, storage_for


class Command(BaseCommand):
    help = "Probe every cloud of the storage and report the repair backlog (a monitoring check)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--storage", default="default", metavar="ALIAS", help="The STORAGES alias (default: default)."
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object, and nothing else.")

    def handle(self, *args: Any, **options: Any) -> None:
        storage = storage_for(options["storage"])
        clouds = probe_all(storage)
        left = repair.backlog(storage)
        models = left["models"]
        report = {"storage": options["storage"], "mode": storage.mode, "clouds": clouds, **left}
        backlog = (
            report["pending_deletes"]
            + report["missing_replicas"]
            + sum(count for counts in models.values() for key, count in counts.items() if key != "rows")
        )
        up = [cloud for cloud, state in clouds.items() if state["up"]]
        status = 0 if len(up) == len(clouds) and not backlog else (2 if not up else 1)
        report["status"] = ["ok", "degraded", "down"][status]
        if options["json"]:
            self.stdout.write(json.dumps(report, sort_keys=True))
        else:
            self._print(report)
        if status:
            raise CommandError(f"Status: {report['status']}.", returncode=status)

    def _print(self, report: dict[str, Any]) -> None:
        lines = [f"Storage {report['storage']!r}, mode {report['mode']}:"]
        for cloud, state in report["clouds"].items():
            verdict = "up" if state["up"] else f"DOWN ({state['reason']})"
            lines.append(f"  {cloud:6} {verdict}, probe {state['latency_ms']} ms")
        for label, counts in report["models"].items():
            missing = ", ".join(f"{k[8:]}: {v}" for k, v in counts.items() if k.startswith("missing_"))
            lines.append(f"  {label}: {counts['rows']} rows; missing a copy ({missing}); unknown: {counts['unknown']}")
        lines.append(
            f"  Pending deletes: {report['pending_deletes']}; recorded missing copies: {report['missing_replicas']}"
        )
        lines.append(f"Status: {report['status']}")
        self.stdout.write("\n".join(lines))
