"""Turns a benchmark run into RESULTS.md, results.json and the charts (matplotlib, PNG)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import bench_urls
from benchmarks.common import IDEAL, OURS_AZURE, OURS_BOTH, OURS_S3, S3STORAGE, WAN, human

if TYPE_CHECKING:
    from benchmarks.bench import Plan

RSS_GOAL_MIB = 64
VARIANT_ORDER = [OURS_S3, OURS_AZURE, OURS_BOTH, IDEAL, S3STORAGE]
COLORS = {
    OURS_S3: "tab:orange",
    OURS_AZURE: "tab:blue",
    OURS_BOTH: "tab:red",
    IDEAL: "tab:gray",
    S3STORAGE: "tab:green",
}


def failures(results: dict[str, Any]) -> list[str]:
    found = []
    for section in results.get("saves", []):
        found += [f"{section['where']} {human(section['size'])} {v}: {e}" for v, e in section["errors"].items()]
    found += [f"RSS {r['case']} {human(r['size'])}: {r['error']}" for r in results.get("rss", []) if "error" in r]
    found += [f"reads: {e}" for e in results.get("reads", {}).get("errors", {}).values()]
    if "error" in results.get("urls", {}):
        found.append(f"url(): {results['urls']['error']}")
    return found


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds * 1e3:.1f} ms" if seconds < 10 else f"{seconds:.2f} s"


def summary(results: dict[str, Any], plan: Plan) -> list[dict[str, Any]]:
    """One row per figure of issue 9: ours, the reference, the ratio and the goal."""
    saves = {(s["where"], s["size"]): s for s in results.get("saves", [])}
    rows: list[dict[str, Any]] = []

    def save_row(figure: str, where: str, size: int, ours: str, reference: list[str], goal: float | None) -> None:
        section = saves.get((where, size))
        if section is None:
            return
        medians = section["median_s"]
        row: dict[str, Any] = {"figure": figure, "where": where, "goal": goal, "kind": "ratio"}
        involved = [ours, *reference]
        failed = [v for v in involved if v in section["errors"] or v not in medians]
        if failed:
            row["error"] = "; ".join(f"{v}: {section['errors'].get(v, 'not measured')}" for v in failed)
        if any(v not in medians for v in involved):
            rows.append(row)
            return
        slowest = max(reference, key=lambda v: medians[v])
        row.update(
            ours=_ms(medians[ours]),
            reference=f"{_ms(medians[slowest])} ({slowest})",
            ratio=medians[ours] / medians[slowest],
        )
        rows.append(row)

    small, large = plan.wan_small, plan.wan_large
    save_row(f"{human(small)} save: both mode / ideal by hand", "WAN", small, OURS_BOTH, [IDEAL], 0.85)
    save_row(
        f"{human(small)} save: s3 mode / S3Storage(file_overwrite=False)", "WAN", small, OURS_S3, [S3STORAGE], 0.85
    )
    save_row(
        f"{human(plan.loop_small)} save: s3 mode / S3Storage(file_overwrite=False)",
        "loopback",
        plan.loop_small,
        OURS_S3,
        [S3STORAGE],
        None,
    )
    save_row(
        f"{human(large)} save: both mode / slower cloud alone (ours s3, ours azure)",
        "WAN",
        large,
        OURS_BOTH,
        [OURS_S3, OURS_AZURE],
        1.04,
    )
    for size, goal in plan.large_goals.items():
        save_row(f"{human(size)} save: both mode / ideal by hand", "loopback", size, OURS_BOTH, [IDEAL], goal)

    rss = {(r["case"], r["size"]): r for r in results.get("rss", [])}
    for size in plan.rss_sizes:
        if ("ours-both", size) not in rss:
            continue
        ours = rss[("ours-both", size)]
        row = {
            "figure": f"RSS growth of a {human(size)} both-mode save",
            "where": "loopback, own process",
            "goal": RSS_GOAL_MIB,
            "kind": "rss",
        }
        others = [
            f"{case} {rss[(case, size)]['growth_kib'] / 1024:.0f} MiB"
            for case in ("ideal", "S3Storage")
            if "growth_kib" in rss.get((case, size), {})
        ]
        if "error" in ours:
            row["error"] = ours["error"]
        else:
            row.update(
                ours=f"{ours['growth_kib'] / 1024:.0f} MiB",
                reference=", ".join(others) or "—",
                value=ours["growth_kib"] / 1024,
            )
        rows.append(row)

    reads = results.get("reads")
    if reads is not None:
        for key, figure, goal in (
            ("open_read", f"open().read() of {human(reads['bytes'])} / S3Storage", 1.05),
            ("size", "size() / S3Storage.size()", 1.1),
        ):
            row = {"figure": figure, "where": "loopback", "goal": goal, "kind": "ratio"}
            if key in reads:
                medians = reads[key]["median_s"]
                row.update(
                    ours=_ms(medians["ours"]),
                    reference=_ms(medians["S3Storage"]),
                    ratio=medians["ours"] / medians["S3Storage"],
                )
            else:
                row["error"] = "; ".join(reads["errors"].values()) or "not measured"
            rows.append(row)

    urls = results.get("urls")
    if urls is not None:
        if "error" in urls:
            rows.append({"figure": "url()", "where": "loopback", "goal": None, "kind": "ratio", "error": urls["error"]})
        for url_row in urls.get("rows", [])[:2]:
            theirs = "AzureStorage.url" if url_row["label"].startswith("Azure") else "S3Storage.url"
            rows.append(
                {
                    "figure": f"url(): {url_row['label']} / {theirs}",
                    "where": "loopback (local signing)",
                    "goal": url_row["goal"],
                    "kind": "ratio",
                    "ours": f"{url_row['ours_us']:.1f} µs",
                    "reference": f"{url_row['theirs_us']:.1f} µs",
                    "ratio": url_row["ratio"],
                }
            )
    return rows


def _short(error: str, limit: int = 160) -> str:
    error = error.replace("|", "/").replace("\n", " ")
    return error if len(error) <= limit else error[: limit - 3] + "..."


def _verdict(row: dict[str, Any]) -> str:
    if "error" in row:
        return "failed (the times are of the saves before): " + _short(row["error"])
    if row["goal"] is None:
        return ""
    value = row["ratio"] if row["kind"] == "ratio" else row["value"]
    return "met" if value <= row["goal"] else "not yet"


def _footer(results: dict[str, Any]) -> str:
    env = results["env"]
    changes = " + uncommitted library changes" if env["library_changes"] else ""
    return f"Measured by `{results['command']}` on {env['date']}, {env['cores']} cores, commit {env['commit']}{changes}"


def _link(cloud: str) -> str:
    shape = WAN[cloud]
    name = "S3" if cloud == "s3" else "Azure"
    return f"{name} {2 * shape['latency'] * 1e3:.0f} ms round trip and {shape['rate'] / 1e6:.0f} MB/s"


def markdown(results: dict[str, Any], plan: Plan) -> str:
    env = results["env"]
    command = results["command"]
    changes = (
        (
            " plus uncommitted changes to multicloud_storage/ ("
            + ", ".join(line[3:] for line in env["library_changes"].splitlines() if line.strip())
            + ")"
        )
        if env["library_changes"]
        else ""
    )
    lines = [
        "# Benchmarks" + (" (smoke run: tiny sizes, one repetition; not figures to quote)" if results["smoke"] else ""),
        "",
        f"Measured {env['date']} by `{command}` (`python -m benchmarks.bench`) in {results['seconds'] / 60:.1f} min on "
        f"{env['machine']}, {env['cores']} cores, Python {env['python']}, Django {env['django']}, django-storages "
        f"{env['django_storages']}, boto3 {env['boto3']}, azure-storage-blob {env['azure_storage_blob']}, moto "
        f"{env['moto']}, Azurite {env['azurite']}; commit {env['commit']}{changes}. Load average "
        f"{env['loadavg_start'][0]:.2f} at the start, {env['loadavg_end'][0]:.2f} at the end (the machine is shared).",
        "",
        "How: moto server (S3) and Azurite (Azure Blob) on this machine, reached directly (**loopback**) or through "
        f"a shaping `tests/faultproxy.FaultProxy` in a process of its own (**WAN**: {_link('s3')}, {_link('azure')}; "
        "latency is a pipeline delay, the rate is shared by the connections of each cloud). **Ours** is "
        "`MultiCloudStorage(mode=..., s3={...}, azure={...})` with "
        + (
            "its default options"
            if not env.get("ours_options")
            else "these options besides its defaults: `"
            + ", ".join(f"{k}={v!r}" for k, v in env["ours_options"].items())
            + "`"
        )
        + " (it records its repair bookkeeping in the database during saves: a migrated SQLite file here). "
        "**Ideal by hand** is django-storages' `S3Storage.save` and `AzureStorage.save` run in two (long-lived) "
        "threads on the same content, configured like with like: SigV4, `S3Storage(file_overwrite=False)`, "
        "`AzureStorage(overwrite_files=False)` (Django's no-overwrite rule on both sides), same endpoints. "
        "Content: `ContentFile` up to 2.5 MB (Django's in-memory upload limit), above that a file on disk "
        "opened as `django.core.files.File` (as Django's TemporaryUploadedFile). Every save goes to a new name "
        "and is deleted afterwards. Figures are medians; the "
        "variants are interleaved (the order rotates each repetition) after a warm-up save by each. Ratios below 1 "
        "mean ours is faster. After each save both clouds are checked directly: a save that returned but left a "
        "cloud of its mode without the complete copy counts as failed, not as a time. Nothing is asserted: the "
        "goals are printed next to the figures.",
        "",
        "## Summary",
        "",
        f"Every figure below was measured by `{command}`.",
        "",
        "| figure | where | ours | reference | ratio | goal | |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in summary(results, plan):
        if "error" in row and "ours" not in row:
            lines.append(f"| {row['figure']} | {row['where']} | failed | | | | failed: {_short(row['error'])} |")
            continue
        ratio = f"{row['ratio']:.2f}x" if row["kind"] == "ratio" else "—"
        if row["goal"] is None:
            goal = "—"
        else:
            goal = f"<= {row['goal']}x" if row["kind"] == "ratio" else f"<= {row['goal']} MiB"
        lines.append(
            f"| {row['figure']} | {row['where']} | {row['ours']} | {row['reference']} | {ratio} | {goal} "
            f"| {_verdict(row)} |"
        )
    lines += ["", "![ratios per operation](ratios.png)", ""]

    for where in ("WAN", "loopback"):
        sections = [s for s in results.get("saves", []) if s["where"] == where]
        if not sections:
            continue
        present = [v for v in VARIANT_ORDER if any(v in s["times"] for s in sections)]
        lines += [
            f"## Saves, {where}",
            "",
            f"Median save time; measured by `{command}`."
            + (
                " The shaping proxy adds no delay to connection set-up (moto closes every connection after its "
                "response, real S3 keeps them alive)."
                if where == "WAN"
                else " On loopback both emulators are CPU-bound on 2 cores: both clouds at once mostly measure CPU "
                "contention (see /work/shared/clouds.md)."
            ),
            "",
            "| size | content | reps | " + " | ".join(present) + " | both / ideal | both / slower alone |",
            "| ---: | --- | ---: | " + " | ".join("---:" for _ in present) + " | ---: | ---: |",
        ]
        for section in sections:
            medians = section["median_s"]
            cells = []
            for variant in present:
                if variant in section["errors"]:
                    ok = len(section["times"].get(variant, []))
                    cells.append(f"failed ({ok} ok: {_ms(medians[variant])})" if ok else "failed")
                elif variant in medians:
                    cells.append(_ms(medians[variant]))
                else:
                    cells.append("—")
            both_ideal = (
                f"{medians[OURS_BOTH] / medians[IDEAL]:.2f}x" if OURS_BOTH in medians and IDEAL in medians else "—"
            )
            slower = max((medians[v] for v in (OURS_S3, OURS_AZURE) if v in medians), default=None)
            both_slower = f"{medians[OURS_BOTH] / slower:.2f}x" if OURS_BOTH in medians and slower else "—"
            counts = sorted(set(section.get("reps_by_variant", {}).values())) or [section["reps"]]
            reps = "/".join(str(count) for count in counts[::-1])
            lines.append(
                f"| {human(section['size'])} | {section['content']} | {reps} | "
                + " | ".join(cells)
                + f" | {both_ideal} | {both_slower} |"
            )
        errors = [f"{human(s['size'])} {v} failed: {e}" for s in sections for v, e in s["errors"].items()]
        lines += ["", *[f"- {error}" for error in errors], ""] if errors else [""]
        if where == "loopback":
            lines += ["![save time against file size, loopback](save_vs_size.png)", ""]

    if results.get("rss"):
        lines += [
            "## Memory of one save",
            "",
            f"Measured by `{command}`: each save in a fresh process (`benchmarks/rss_child.py`) on loopback, a file on "
            "disk opened as `File`. Baseline: VmRSS after setup (clients built, one 10 KiB save done); peak: VmRSS "
            "sampled every 20 ms during the save (VmHWM, reset at the baseline, as a check). Goal for the both-mode "
            f"saves: growth <= {RSS_GOAL_MIB} MiB.",
            "",
            "| save | size | baseline | peak | growth | growth by VmHWM | time |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in results["rss"]:
            label = {"ours-both": "ours both", "ideal": "ideal by hand", "S3Storage": "S3Storage alone"}[r["case"]]
            if "error" in r:
                lines.append(f"| {label} | {human(r['size'])} | failed: {r['error']} | | | | |")
                continue
            hwm = f"{r['hwm_growth_kib'] / 1024:.0f} MiB" if r.get("hwm_growth_kib") is not None else "—"
            lines.append(
                f"| {label} | {human(r['size'])} | {r['baseline_kib'] / 1024:.0f} MiB | "
                f"{r['peak_kib'] / 1024:.0f} MiB | {r['growth_kib'] / 1024:.0f} MiB | {hwm} | {_ms(r['seconds'])} |"
            )
        lines += ["", "![memory over time](memory.png)", ""]

    reads = results.get("reads")
    if reads is not None:
        lines += [
            "## Reads",
            "",
            f"Measured by `{command}` on loopback: a {human(reads['bytes'])} object in both clouds; ours is both mode "
            "(reads S3 first), against `S3Storage`. `open().read()` is timed from open to the last byte.",
            "",
            "| operation | ours | S3Storage | ratio | reps |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for key, label in (("open_read", f"open().read() {human(reads['bytes'])}"), ("size", "size()")):
            if key in reads:
                medians = reads[key]["median_s"]
                lines.append(
                    f"| {label} | {_ms(medians['ours'])} | {_ms(medians['S3Storage'])} | "
                    f"{medians['ours'] / medians['S3Storage']:.2f}x | {len(reads[key]['times']['ours'])} |"
                )
        lines += [f"- {error}" for error in reads["errors"].values()] + [""]

    urls = results.get("urls")
    if urls is not None and "rows" in urls:
        lines += bench_urls.section_lines(urls, command)
    lines += _processes_lines(results.get("processes"), command)
    problems = failures(results)
    if problems:
        lines += ["## Failures", "", *[f"- {problem}" for problem in problems], ""]
    return "\n".join(lines)


def _processes_lines(processes: dict[str, Any] | None, command: str) -> list[str]:
    """The shared-health and soak sections (benchmarks/bench_processes.py)."""
    if processes is None:
        return []
    if "error" in processes:
        return ["## Many processes", "", f"Failed: {processes['error']}", ""]
    lines = [
        "## Many processes, one verdict",
        "",
        f"Measured by `{command}` (`benchmarks/bench_processes.py`): {processes['with_shared_cache']['processes']} "
        "processes handing out URLs of one file every 50 ms (`tests/worker_process.py url_loop`), S3 behind a fault "
        f"proxy, `health_check_interval` {processes['interval']:g} s, `probe_timeout` 1 s; a real redis-server for "
        "`shared_cache`. Probes are counted at the proxy over 10 s; then S3 refuses connections, and the time until "
        "every process hands out Azure URLs is measured from that moment.",
        "",
        "| | probes per interval (all processes) | every process failed over after | per process |",
        "| --- | ---: | ---: | --- |",
    ]
    for key, label in (
        ("without_shared_cache", "without `shared_cache`"),
        ("with_shared_cache", "with `shared_cache`"),
    ):
        row = processes[key]
        every = row["seconds_until_every_process_failed_over"]
        per = ", ".join(f"{d:.2f} s" for d in row["seconds_per_process"])
        lines.append(
            f"| {label} | {row['probes_per_interval']:.1f} | "
            f"{'not all' if every is None else f'{every:.2f} s'} | {per} |"
        )
    soak = processes.get("soak")
    if soak:
        lines += [
            "",
            "## Soak: S3 flapping while threads save and sign",
            "",
            f"Measured by `{command}` (`tests/soak.py`, the scenario of `tests/test_soak.py`): {soak['seconds']:g} s, "
            "S3 cycling through pass 3 s, refused 2 s, pass 2 s, hung 3 s, pass 2 s, reset 2 s, while three threads "
            "save (4-68 KiB each) and one signs URLs; `connect_timeout` 1 s, `read_timeout` 2 s.",
            "",
            "| figure | value |",
            "| --- | ---: |",
            f"| saves (failed / stored in one cloud only) | {soak['saves']} ({soak['saves_failed']} / "
            f"{soak['saves_single_copy']}) |",
            f"| slowest save | {soak['slowest_save_s']:.2f} s |",
            f"| url() calls (while S3 hung) | {soak['urls']} ({soak['urls_while_hung']}) |",
            f"| url() while S3 hung: p50 / p99 / max | {soak['url_p50_while_hung_ms']:.3f} / "
            f"{soak['url_p99_while_hung_ms']:.3f} / {soak['url_max_while_hung_ms']:.1f} ms |",
            f"| URLs for a cloud known down while the other holder was up | {soak['urls_for_a_cloud_known_down']} |",
        ]
    return lines + [""]


# Charts --------------------------------------------------------------------------------------------------


def charts(results: dict[str, Any], plan: Plan, out: Path) -> list[Path]:
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("The charts need matplotlib: .venvs/dev/bin/python -m pip install matplotlib") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    footer = _footer(results)
    written = []

    # Ratios per operation.
    rows = [r for r in summary(results, plan) if r["kind"] == "ratio" and ("ratio" in r or "error" in r)]
    if rows:
        fig, ax = plt.subplots(figsize=(10, 0.55 * len(rows) + 1.8))
        labels = [
            f"{r['figure']}  [{r['where'].split(' ')[0]}]"
            + ("" if "error" not in r else "  (FAILED)" if "ratio" not in r else "  (FAILED after these)")
            for r in rows
        ][::-1]
        ratios = [r.get("ratio") for r in rows][::-1]
        goals = [r["goal"] for r in rows][::-1]
        colors = [
            "tab:green"
            if g is not None and v is not None and v <= g
            else ("tab:orange" if g is not None else "tab:gray")
            for v, g in zip(ratios, goals, strict=True)
        ]
        ax.barh(range(len(rows)), [v or 0 for v in ratios], color=colors)
        for i, (value, goal) in enumerate(zip(ratios, goals, strict=True)):
            if value is None:
                ax.text(0.01, i, "FAILED: no time (see RESULTS.md)", va="center", fontsize=8, color="darkred")
            else:
                ax.text(max(value, goal or 0) + 0.01, i, f" {value:.2f}x", va="center", fontsize=8)
            if goal is not None:
                ax.plot([goal, goal], [i - 0.4, i + 0.4], color="black", linewidth=2)
        ax.axvline(1.0, color="black", linestyle=":", linewidth=1)
        ax.set_yticks(range(len(rows)), labels, fontsize=8)
        ax.set_xlabel("ours / reference (lower is better; black tick: goal; green: goal met)")
        ax.set_title("MultiCloudStorage against django-storages: ratio per operation")
        ax.set_xlim(0, max(max((v for v in ratios if v), default=1), max((g for g in goals if g), default=1)) * 1.18)
        fig.text(0.01, 0.01, footer, fontsize=7, color="dimgray")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        path = out / "ratios.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    # Save time against size, loopback.
    sections = sorted((s for s in results.get("saves", []) if s["where"] == "loopback"), key=lambda s: s["size"])
    if sections:
        fig, ax = plt.subplots(figsize=(8, 5.5))
        failed_any = False
        for index, variant in enumerate((OURS_S3, OURS_AZURE, OURS_BOTH, IDEAL)):
            points = [
                (s["size"], s["median_s"][variant])
                for s in sections
                if variant in s["median_s"] and variant not in s["errors"]
            ]
            if points:
                ax.plot(
                    *zip(*points, strict=False),
                    marker="o",
                    label=variant,
                    color=COLORS[variant],
                    linestyle="--" if variant == IDEAL else "-",
                )
            for s in sections:  # a failed variant gets a cross at the height of the others' slowest time
                if variant in s["errors"] and s["median_s"]:
                    failed_any = True
                    ax.plot(
                        [s["size"]],
                        [max(s["median_s"].values()) * (1.2 + 0.3 * index)],
                        marker="X",
                        markersize=9,
                        color=COLORS[variant],
                        linestyle="none",
                    )
        if failed_any:
            ax.plot([], [], marker="X", color="black", linestyle="none", label="failed there (no time)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        sizes = [s["size"] for s in sections]
        ax.set_xticks(sizes, [human(size) for size in sizes], rotation=35, ha="right")
        ax.minorticks_off()
        ax.set_xlabel("file size")
        ax.set_ylabel("median save time (s)")
        ax.set_title("save() time against file size, loopback (moto server, Azurite)")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend()
        fig.text(0.01, 0.01, footer, fontsize=7, color="dimgray")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        path = out / "save_vs_size.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    # Memory over time of the largest both-mode save, and the growth of every case.
    measured = [r for r in results.get("rss", []) if "samples" in r]
    if measured:
        largest = max(r["size"] for r in measured)
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [3, 2]})
        for r in (r for r in measured if r["size"] == largest):
            times = [t for t, _ in r["samples"]]
            growth = [(rss - r["baseline_kib"]) / 1024 for _, rss in r["samples"]]
            label = {"ours-both": "ours both", "ideal": "ideal by hand", "S3Storage": "S3Storage alone"}[r["case"]]
            color = {"ours-both": COLORS[OURS_BOTH], "ideal": COLORS[IDEAL], "S3Storage": COLORS[S3STORAGE]}[r["case"]]
            left.plot(times, growth, label=label, color=color, linewidth=2 if r["case"] == "ours-both" else 1)
        failed = [r["case"] for r in results.get("rss", []) if r["size"] == largest and "error" in r]
        if failed:
            left.text(
                0.02,
                0.97,
                "failed, no curve: " + ", ".join(failed),
                transform=left.transAxes,
                va="top",
                color="darkred",
                fontsize=9,
            )
        left.axhline(RSS_GOAL_MIB, color="black", linestyle=":", linewidth=1, label=f"goal {RSS_GOAL_MIB} MiB")
        left.set_xlabel("seconds since the save started")
        left.set_ylabel("RSS growth over the baseline (MiB)")
        left.set_title(f"RSS during a {human(largest)} save (sampled every 20 ms)")
        left.legend()
        left.grid(True, alpha=0.3)
        cases = [r for r in measured]
        names = [
            f"{ {'ours-both': 'ours both', 'ideal': 'ideal', 'S3Storage': 'S3Storage'}[r['case']] }\n{human(r['size'])}"
            for r in cases
        ]
        right.bar(
            range(len(cases)),
            [r["growth_kib"] / 1024 for r in cases],
            color=[
                {"ours-both": COLORS[OURS_BOTH], "ideal": COLORS[IDEAL], "S3Storage": COLORS[S3STORAGE]}[r["case"]]
                for r in cases
            ],
        )
        right.axhline(RSS_GOAL_MIB, color="black", linestyle=":", linewidth=1)
        right.set_xticks(range(len(cases)), names, fontsize=8)
        right.set_ylabel("peak RSS growth (MiB)")
        right.set_title("peak growth per save, own process each")
        fig.text(0.01, 0.01, footer, fontsize=7, color="dimgray")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        path = out / "memory.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def write(results: dict[str, Any], plan: Plan, out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(results, plan)
    (out / "RESULTS.md").write_text(text)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    charts(results, plan, out)
    return text


def main(argv: list[str] | None = None) -> None:
    """Render the report and the charts again from a results.json (e.g. after changing this file)."""
    import argparse
    import sys

    from benchmarks.bench import Plan

    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=main.__doc__)
    parser.add_argument("results", type=Path, nargs="?", default=Path(__file__).parent / "results.json")
    parser.add_argument("--out", type=Path, help="default: the directory of the results file")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    results = json.loads(args.results.read_text())
    write(results, Plan(results["smoke"]), args.out or args.results.parent)


if __name__ == "__main__":
    main()
