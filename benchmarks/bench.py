"""The benchmarks (issue 9): MultiCloudStorage against django-storages' own backends, side by side in one run.

    make bench          # python -m benchmarks.bench: writes benchmarks/RESULTS.md, results.json and the charts
    make bench-smoke    # python -m benchmarks.bench --smoke: tiny sizes, one repetition, no 1 GiB; keeps no file
                        # (add --out DIR to keep its report); CI may run it to keep the harness working
    python -m benchmarks.bench --only loopback,rss --out /tmp/b --ours read_timeout=60   # a part, other options

Nothing is asserted: the exit status is 1 only when a case failed (an error, or a save that returned without
leaving the complete copy in every cloud of its mode).

Everything runs against moto server (S3) and Azurite (Azure Blob), started here, either directly ("loopback")
or through FaultProxies that shape the link ("WAN": S3 20 ms round trip and 25 MB/s, Azure 30 ms and 20 MB/s),
run in a process of their own (benchmarks/wan_proxy.py).
Each figure is a median over repetitions, with the variants interleaved (the order rotates every repetition),
after a warm-up save by every variant; every save goes to a new name and is deleted afterwards.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import common
from benchmarks.common import IDEAL, OURS_AZURE, OURS_BOTH, OURS_S3, S3STORAGE, GiB, KiB, MiB, human

RSS_CASES = {"ours-both": OURS_BOTH, "ideal": IDEAL, "S3Storage": S3STORAGE}
FULL_COMMAND = "make bench"
SMOKE_COMMAND = "make bench-smoke"


class Plan:
    """What to measure: the complete run, or the smoke run (same code paths, tiny sizes, one repetition)."""

    def __init__(self, smoke: bool) -> None:
        self.smoke = smoke
        four = [OURS_S3, OURS_AZURE, OURS_BOTH, IDEAL]
        if smoke:
            self.wan = [
                (10 * KiB, 1, [OURS_BOTH, IDEAL, OURS_S3, S3STORAGE]),
                (3 * MiB, 1, [OURS_BOTH, OURS_S3, OURS_AZURE, IDEAL]),
            ]
            self.loopback = [(10 * KiB, 1, [*four, S3STORAGE]), (3 * MiB, 1, four)]
            self.large_goals = {3 * MiB: 1.0}
            self.rss_sizes = [3 * MiB]
            self.read_size, self.read_reps, self.size_calls = 1 * MiB, 1, 3
            self.url_calls, self.url_repeats = 20, 1
        else:
            self.wan = [
                (10 * KiB, 21, [OURS_BOTH, IDEAL, OURS_S3, S3STORAGE]),
                (128 * MiB, 3, [OURS_BOTH, OURS_S3, OURS_AZURE, IDEAL]),
            ]
            # At 1 GiB the single clouds (only for the size chart) get one save each: they take a minute apiece.
            self.loopback = [
                (10 * KiB, 21, [*four, S3STORAGE]),
                (1 * MiB, 11, four),
                (16 * MiB, 5, four),
                (128 * MiB, 3, four),
                (256 * MiB, 3, four),
                (1 * GiB, 3, [OURS_BOTH, IDEAL]),
                (1 * GiB, 1, [OURS_S3, OURS_AZURE]),
            ]
            self.large_goals = {256 * MiB: 1.0, 1 * GiB: 1.05}
            self.rss_sizes = [256 * MiB, 1 * GiB]
            self.read_size, self.read_reps, self.size_calls = 32 * MiB, 9, 101
            self.url_calls, self.url_repeats = 2000, 7
        self.wan_small, self.wan_large = self.wan[0][0], self.wan[1][0]
        self.loop_small = self.loopback[0][0]


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# Saves -----------------------------------------------------------------------------------------------------


def savers(endpoints: common.Endpoints) -> dict[str, Callable[[str, common.Content], str]]:
    return {
        OURS_BOTH: common.save_with(common.ours(endpoints, "both")),
        OURS_S3: common.save_with(common.ours(endpoints, "s3")),
        OURS_AZURE: common.save_with(common.ours(endpoints, "azure")),
        IDEAL: common.IdealByHand(endpoints).save,
        S3STORAGE: common.save_with(common.s3_storage(endpoints)),
    }


def measure_saves(
    emulators: common.Emulators,
    endpoints: common.Endpoints,
    save: dict[str, Callable[[str, common.Content], str]],
    size: int,
    reps: int,
    variants: list[str],
    workdir: Path,
) -> dict[str, Any]:
    content = common.Content(size, workdir)
    warm = content if size <= common.IN_MEMORY_MAX else common.Content(10 * KiB, workdir)
    times: dict[str, list[float]] = {variant: [] for variant in variants}
    errors: dict[str, str] = {}
    where = f"{endpoints.label} {human(size)}"

    def one(variant: str, what: common.Content) -> float | None:
        slug = variant.split("(")[0].replace(" ", "-")
        name = f"bench/{endpoints.label.lower()}/{size}/{slug}-{uuid.uuid4().hex[:8]}.bin"
        gc.collect()
        started = time.perf_counter()
        try:
            saved = save[variant](name, what)
        except Exception as exc:
            errors[variant] = f"{type(exc).__name__}: {exc}"[:300]
            log(f"{where}: {variant} failed: {errors[variant]}")
            emulators.remove(name)
            return None
        elapsed = time.perf_counter() - started
        problem = landed_badly(emulators, saved, common.CLOUDS[variant], what.size)
        emulators.remove(saved)
        if saved != name:
            problem = problem or f"saved as {saved!r}, not the free name {name!r}"
        if problem:
            errors[variant] = problem
            log(f"{where}: {variant}: {problem}")
            return None
        return elapsed

    for variant in variants:
        one(variant, warm)
    for rep in range(reps):
        shift = rep % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            if variant in errors:
                continue
            elapsed = one(variant, content)
            if elapsed is not None:
                times[variant].append(elapsed)
            if size >= 64 * MiB:
                time.sleep(0.5)  # let the emulators settle (Azurite flushes, moto frees) before the next one
        medians = ", ".join(f"{v} {statistics.median(t) * 1e3:.1f} ms" for v, t in times.items() if t)
        log(f"{where} rep {rep + 1}/{reps}: {medians}")
    return {
        "where": endpoints.label,
        "size": size,
        "content": content.kind,
        "reps": reps,
        "times": times,
        "median_s": {v: statistics.median(t) for v, t in times.items() if t},
        "errors": errors,
    }


def landed_badly(emulators: common.Emulators, name: str, clouds: tuple[str, ...], size: int) -> str | None:
    """Why the saved copies are not what the save promised (every cloud of the variant, every byte), or None."""
    found = emulators.sizes(name)
    wrong = {cloud: found[cloud] for cloud in clouds if found[cloud] != size}
    if not wrong:
        return None
    return "returned, but " + ", ".join(
        f"{cloud} has {'no copy' if got is None else f'{got} of {size} bytes'}" for cloud, got in wrong.items()
    )


def merged(sections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One section per (where, size): the variants measured in separate passes side by side."""
    by_key: dict[tuple[str, int], dict[str, Any]] = {}
    for section in sections:
        key = (section["where"], section["size"])
        if key not in by_key:
            by_key[key] = section
            continue
        into = by_key[key]
        for field in ("times", "median_s", "errors"):
            into[field].update(section[field])
        into["reps"] = max(into["reps"], section["reps"])
        into.setdefault("reps_by_variant", {})
    for section in by_key.values():
        section["reps_by_variant"] = {variant: len(times) for variant, times in section["times"].items()}
    return list(by_key.values())


# Memory ----------------------------------------------------------------------------------------------------


def measure_rss(emulators: common.Emulators, size: int, case: str, workdir: Path) -> dict[str, Any]:
    content = common.Content(size, workdir, on_disk=True)
    name = f"bench/rss/{case}-{size}-{uuid.uuid4().hex[:8]}.bin"
    out = workdir / f"rss-{uuid.uuid4().hex[:8]}.json"
    argv = [
        sys.executable,
        "-m",
        "benchmarks.rss_child",
        case,
        str(size),
        str(content.path),
        str(emulators.direct.s3_port),
        str(emulators.direct.azure_port),
        name,
        str(out),
    ]
    try:
        process = subprocess.run(argv, cwd=common.ROOT, capture_output=True, text=True, timeout=900)
        if process.returncode != 0:
            error = (process.stderr.strip().splitlines() or ["no output"])[-1]
            log(f"RSS {case} {human(size)} failed: {error}")
            return {"case": case, "size": size, "error": error[:300]}
        result = json.loads(out.read_text())
        problem = landed_badly(emulators, result["saved"], common.CLOUDS[RSS_CASES[case]], size)
        if problem:
            log(f"RSS {case} {human(size)}: {problem}")
            return {"case": case, "size": size, "error": problem}
    except subprocess.TimeoutExpired:
        return {"case": case, "size": size, "error": "timed out after 900 s"}
    finally:
        out.unlink(missing_ok=True)
        emulators.remove(name)
        emulators.remove(name + ".warm-up")
    log(f"RSS {case} {human(size)}: +{result['growth_kib'] / 1024:.1f} MiB in {result['seconds']:.1f} s")
    return result


# Reads -----------------------------------------------------------------------------------------------------


def measure_reads(emulators: common.Emulators, plan: Plan, workdir: Path) -> dict[str, Any]:
    endpoints = emulators.direct
    content = common.Content(plan.read_size, workdir, on_disk=True)
    name = f"bench/read/{uuid.uuid4().hex[:8]}.bin"
    emulators.s3.upload_file(str(content.path), common.BUCKET, name)
    with open(content.path, "rb") as data:
        emulators.container.upload_blob(name, data, length=content.size)
    ours, theirs = common.ours(endpoints, "both"), common.s3_storage(endpoints)
    result: dict[str, Any] = {"bytes": plan.read_size, "name": name, "errors": {}}
    try:

        def read(storage: Any) -> float:
            gc.collect()
            started = time.perf_counter()
            with storage.open(name) as file:
                data = file.read()
            elapsed = time.perf_counter() - started
            assert len(data) == content.size
            return elapsed

        open_times: dict[str, list[float]] = {"ours": [], "S3Storage": []}
        pair = [("ours", ours), ("S3Storage", theirs)]
        for _, storage in pair:
            read(storage)  # warm-up
        for rep in range(plan.read_reps):
            for key, storage in pair if rep % 2 == 0 else pair[::-1]:
                open_times[key].append(read(storage))
        result["open_read"] = {
            "times": open_times,
            "median_s": {k: statistics.median(v) for k, v in open_times.items()},
        }
        log(
            "open().read() {}: ours {:.1f} ms, S3Storage {:.1f} ms".format(
                human(plan.read_size), *(result["open_read"]["median_s"][k] * 1e3 for k in ("ours", "S3Storage"))
            )
        )

        size_times: dict[str, list[float]] = {"ours": [], "S3Storage": []}
        for _, storage in pair:
            assert storage.size(name) == content.size  # warm-up
        for rep in range(plan.size_calls):
            for key, storage in pair if rep % 2 == 0 else pair[::-1]:
                started = time.perf_counter()
                storage.size(name)
                size_times[key].append(time.perf_counter() - started)
        result["size"] = {"times": size_times, "median_s": {k: statistics.median(v) for k, v in size_times.items()}}
        log(
            "size(): ours {:.2f} ms, S3Storage {:.2f} ms".format(
                *(result["size"]["median_s"][k] * 1e3 for k in ("ours", "S3Storage"))
            )
        )
    except Exception as exc:
        result["errors"]["reads"] = f"{type(exc).__name__}: {exc}"[:300]
        log(f"reads failed: {result['errors']['reads']}")
    finally:
        emulators.remove(name)
    return result


# The run ---------------------------------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    import azure.storage.blob
    import boto3
    import django
    import moto
    import storages

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=common.ROOT, capture_output=True, text=True, timeout=10).stdout
        except OSError:
            return ""

    azurite = json.loads((common.ROOT / "node_modules" / "azurite" / "package.json").read_text())["version"]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "django_storages": storages.__version__,
        "boto3": boto3.__version__,
        "azure_storage_blob": azure.storage.blob.__version__,
        "moto": moto.__version__,
        "azurite": azurite,
        "commit": git("rev-parse", "--short", "HEAD").strip(),
        "library_changes": git("status", "--porcelain", "--", "multicloud_storage"),
        "loadavg_start": os.getloadavg(),
        "ours_options": dict(common.OURS_OPTIONS),
    }


def run(plan: Plan, only: set[str] | None) -> dict[str, Any]:
    from benchmarks import bench_urls

    results: dict[str, Any] = {"env": environment(), "smoke": plan.smoke, "saves": [], "rss": []}
    workdir = Path(tempfile.mkdtemp(prefix="multicloud-bench-"))
    log(f"emulators starting (work directory {workdir})")
    with common.Emulators(workdir) as emulators:
        if only is None or "wan" in only:
            save = savers(emulators.wan)
            for size, reps, variants in plan.wan:
                results["saves"].append(measure_saves(emulators, emulators.wan, save, size, reps, variants, workdir))
        if only is None or "loopback" in only:
            save = savers(emulators.direct)
            for size, reps, variants in plan.loopback:
                results["saves"].append(measure_saves(emulators, emulators.direct, save, size, reps, variants, workdir))
        if only is None or "rss" in only:
            for size in plan.rss_sizes:
                for case in RSS_CASES:
                    results["rss"].append(measure_rss(emulators, size, case, workdir))
        if only is None or "reads" in only:
            results["reads"] = measure_reads(emulators, plan, workdir)
        if only is None or "urls" in only:
            log("url()")
            try:
                results["urls"] = bench_urls.measure(emulators.direct, plan.url_calls, plan.url_repeats)
            except Exception as exc:
                results["urls"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        if only is None or "processes" in only:
            from benchmarks import bench_processes

            log("many processes and a flapping cloud (shared health, soak)")
            try:
                results["processes"] = bench_processes.measure(
                    workdir,
                    emulators.direct.s3_port,
                    emulators.direct.azure_port,
                    soak_seconds=10 if plan.smoke else 60,
                )
            except Exception as exc:
                results["processes"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    results["saves"] = merged(results["saves"])
    results["env"]["loadavg_end"] = os.getloadavg()
    log("emulators stopped, temporary files removed")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes, one repetition, no 1 GiB; writes only to --out"
    )
    parser.add_argument(
        "--only",
        help="comma-separated subset of wan,loopback,rss,reads,urls,processes (for development; writes only to --out)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="where to write the report and charts (default: benchmarks/ for a "
        "complete run, a new temporary directory otherwise)",
    )
    parser.add_argument(
        "--ours",
        action="append",
        default=[],
        metavar="OPTION=VALUE",
        help="an option for every MultiCloudStorage (VALUE read as JSON when it parses, e.g. "
        "read_timeout=60); default: none, the library's defaults",
    )
    args = parser.parse_args(argv)
    for item in args.ours:
        key, _, value = item.partition("=")
        try:
            common.OURS_OPTIONS[key] = json.loads(value)
        except json.JSONDecodeError:
            common.OURS_OPTIONS[key] = value
    os.environ["BENCH_OURS_OPTIONS"] = json.dumps(common.OURS_OPTIONS)
    only = set(args.only.split(",")) if args.only else None
    plan = Plan(args.smoke)
    partial = args.smoke or only is not None
    # A partial run writes only where --out says; without it, to a temporary directory removed at the end
    # (the report and the charts are still rendered, so that the smoke run exercises them too).
    scratch = Path(tempfile.mkdtemp(prefix="multicloud-bench-report-")) if partial and args.out is None else None
    out = args.out or scratch or common.ROOT / "benchmarks"
    command = SMOKE_COMMAND if args.smoke else FULL_COMMAND
    if only is not None or args.ours:
        command = (
            "python -m benchmarks.bench"
            + (" --smoke" if args.smoke else "")
            + (f" --only {args.only}" if only is not None else "")
            + "".join(f" --ours {item}" for item in args.ours)
        )

    started = time.perf_counter()
    results = run(plan, only)
    from benchmarks import report  # imported late: a report.py edited during a long run is the one used

    results["command"] = command
    results["seconds"] = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    try:
        text = report.write(results, plan, out)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    print(text)
    log(
        f"done in {results['seconds']:.0f} s; "
        + ("report and charts rendered, not kept (--out DIR keeps them)" if scratch else f"written to {out}")
    )
    problems = report.failures(results)
    if problems:
        log(f"{len(problems)} case(s) failed (see Failures in the report); exit status 1")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
