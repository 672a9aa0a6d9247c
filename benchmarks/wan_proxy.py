"""The WAN-shaped link, in its own process: a shaping FaultProxy in front of each emulator.

python -m benchmarks.wan_proxy S3_PORT AZURE_PORT
Prints {"s3": port, "azure": port} on one line, then relays until its standard input closes. A process of its
own, so that the relay threads never compete for the interpreter lock with the client code being measured.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.faultproxy import FaultProxy  # noqa: E402

# Latency is added in each direction: 0.010 s is a 20 ms round trip. Rates in bytes per second.
WAN = {"s3": {"latency": 0.010, "rate": 25e6}, "azure": {"latency": 0.015, "rate": 20e6}}


def main(argv: list[str]) -> None:
    s3_port, azure_port = int(argv[0]), int(argv[1])
    proxies = {"s3": FaultProxy(s3_port, **WAN["s3"]), "azure": FaultProxy(azure_port, **WAN["azure"])}
    print(json.dumps({name: proxy.port for name, proxy in proxies.items()}), flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sys.stdin.read()  # until the parent closes it (or exits)
    for proxy in proxies.values():
        proxy.close()


if __name__ == "__main__":
    main(sys.argv[1:])
