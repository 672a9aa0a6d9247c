"""The soak (marked slow): S3 flapping for two full cycles (30 s) while threads save and sign; every invariant holds.

`make bench` runs the same scenario for a minute and publishes its figures."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from . import soak

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("transactional_db")]


def test_s3_flapping_while_threads_save_and_sign(env):
    storage = env.install("both")
    result = soak.run(storage, env.s3_proxy, seconds=30)
    ports = {env.s3_proxy.port: "s3", env.azure_proxy.port: "azure"}
    figures = soak.summary(result, lambda url: ports[urlsplit(url).port])
    print("\nsoak:", figures)
    # Every save that returned holds exactly its bytes in every cloud its column names.
    for save in result["saves"]:
        if "error" in save:
            continue
        for cloud in save["locations"]:
            assert env.raw_bytes(cloud, save["name"]) == save["body"], (save["name"], cloud)
    assert figures["saves"] - figures["saves_failed"] > 100
    # No save exceeded its bound: attempts x (connect + read) + one backoff, with these options 7 s.
    assert figures["slowest_save_s"] < 2 * (1.0 + 2.0) + 1.0 + 1.0, figures
    # url() never waits on the hung cloud, and never points at a cloud known down when another holder is up.
    assert figures["urls_while_hung"] > 100
    assert figures["url_p99_while_hung_ms"] < 1.0, figures
    assert figures["urls_for_a_cloud_known_down"] == 0, figures
