"""Several processes, no shared cache: same-name saves never overwrite each other (create-if-absent writes).

Marked slow: several Python processes, the same on every Django (`make test` runs them once)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from .emulators import ROOT

pytestmark = pytest.mark.slow


def run_workers(count: int, job: dict) -> list[list[dict]]:
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.worker_process", json.dumps({**job, "tag": f"process {i}"})],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "MULTICLOUD_TEST_DB": ":memory:"},
        )
        for i in range(count)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err[-3000:]
        results.append([json.loads(line) for line in out.splitlines() if line.startswith("{")])
    return results


ROUNDS = 3


def race(env, name: str, *, file_overwrite: bool) -> list[list[dict]]:
    """Four processes save ``name`` at the same instants, ROUNDS times (1.5 s apart, the first in 6 s)."""
    options = env.options("both", file_overwrite=file_overwrite)
    job = {"job": "save_rounds", "options": options, "name": name, "start": time.time() + 6, "period": 1.5}
    return run_workers(4, {**job, "rounds": ROUNDS})


def test_same_name_saves_from_four_processes_never_overwrite_each_other(env):
    results = race(env, "race/same.txt", file_overwrite=False)
    for round_number in range(ROUNDS):
        saves = [r for per_process in results for r in per_process if r["round"] == round_number]
        assert len(saves) == 4 and all("error" not in s for s in saves), saves
        names = [s["name"] for s in saves]
        assert len(set(names)) == 4, names  # each save its own name: nothing overwritten
        for save in saves:
            assert save["locations"] == ["azure", "s3"]
            assert env.s3_bytes(save["name"]) == env.azure_bytes(save["name"]) == save["body"].encode()


def test_same_name_overwrites_from_four_processes_never_report_another_saves_bytes(env):
    results = race(env, "race/over.txt", file_overwrite=True)
    last = [r for per_process in results for r in per_process if r["round"] == ROUNDS - 1]
    assert len(last) == 4
    for save in last:
        assert "error" not in save or "overwritten by a concurrent save" in save["error"], save
    for cloud, stored in (("s3", env.s3_bytes("race/over.txt")), ("azure", env.azure_bytes("race/over.txt"))):
        writers = [s for s in last if s.get("body", "").encode() == stored]
        assert writers and all(cloud in s["locations"] for s in writers), (cloud, stored, last)
    for save in last:  # whatever a save reports holds its bytes, unless a later save replaced them everywhere
        for cloud in save.get("locations", []):
            stored = env.raw_bytes(cloud, "race/over.txt")
            assert stored == save["body"].encode() or any(
                s is not save and s.get("body", "").encode() == stored and cloud in s["locations"] for s in last
            )
