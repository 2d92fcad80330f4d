"""The ``## Run``, ``## End to end`` and ``## Scale`` sections of RESULTS.md."""

from __future__ import annotations

import platform
from typing import Any

from benchmarks import document, targets
from benchmarks import e2e as e2e_part
from benchmarks import scale as scale_part
from benchmarks import worker as worker_part
from benchmarks.traffic import MAX_BATCH
from benchmarks.worker import BARE_COUNT, SHARDS, TICK_S, counts


def rows(lines: list[tuple[str, str]]) -> list[str]:
    return ["| measure | result |", "|---|---:|", *(f"| {a} | {b} |" for a, b in lines)]


def heading(title: str, command: str, date: str, load: float | None) -> list[str]:
    loaded = "" if load is None else f" · 1-minute load average before this part {load:.2f}"
    return [f"## {title}", "", f"`{command}` — {date}{loaded}", ""]


# --- end to end ----------------------------------------------------------------------------


def e2e_rows(e2e: dict[str, Any]) -> list[tuple[str, str]]:
    raw, flat, half = e2e["raw"], e2e["txflow"], e2e["half_peak"]
    cpu = " · ".join(f"{name} {s:.1f}" for name, s in flat["cpu_s"].items())
    met = "met" if e2e["ratio_vs_raw"] >= targets.TARGET_E2E else "NOT met"
    return [
        (f"raw pipeline: XADD pipelines of {MAX_BATCH:,} + {SHARDS} tasks "
         f"XREADGROUP {BARE_COUNT} / XACK, one process ({raw['entries']:,} tx)",
         f"{raw['tx_s']:,.0f} tx/s"),
        (f"txflow flat out ({flat['entries']:,} tx, batch POSTs of "
         f"{MAX_BATCH:,} over {e2e['lanes']} connections): accepted",
         f"{flat['accepted_tx_s']:,.0f} tx/s"),
        ("txflow flat out: applied, first POST → last commit (**peak**)",
         f"{flat['applied_tx_s']:,.0f} tx/s"),
        ("txflow / raw pipeline",
         f"{e2e['ratio_vs_raw']:.0%} (≥ {targets.TARGET_E2E:.0%}: {met})"),
        (f"latency accepted → applied at ½ peak ({half['offered_tx_s']:,.0f} tx/s offered "
         f"for {e2e['paced_s']:.0f} s, {half['entries']:,} tx)",
         f"p50 {half['p50_ms']} ms · p99 {half['p99_ms']} ms · max {half['max_ms']} ms"),
        (f"CPU seconds while flat out ({flat['span_s']:.1f} s: "
         f"{sum(flat['cpu_s'].values()) / flat['span_s']:.1f} cores busy)", cpu),
    ]  # fmt: skip


def sweep_table(points: list[dict[str, Any]]) -> list[str]:
    lines = ["| offered | offered tx/s | posting s | achieved tx/s | p50 ms | p99 ms | max ms |",
             "|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for p in points:
        lines.append(
            f"| {p['fraction']:.0%} | {p['offered_tx_s']:,.0f} | {p['sent_s']:.1f} "
            f"| {p['achieved_tx_s']:,.0f} | {p['p50_ms']} | {p['p99_ms']} | {p['max_ms']} |"
        )
    return lines


def e2e_section(e2e: dict[str, Any], command: str, date: str, load: float) -> str:
    quick = e2e["stack_env"]
    tweak = f" ({', '.join(f'{k}={v}' for k, v in quick.items())})" if quick else ""
    return "\n".join([
        *heading("End to end", command, date, load),
        *rows(e2e_rows(e2e)), "",
        f"Offered load, paced: on each of the {e2e['lanes']} connections, every "
        f"{TICK_S * 1000:.0f} ms one batch POST of what is due; achieved = transactions / "
        "(first POST → last commit); *posting* = how long the client took to offer what "
        f"was planned for {e2e['paced_s']:.0f} s (longer: the API did not take it at that "
        "rate):", "",
        *sweep_table(e2e["sweep"]), "",
        "![achieved throughput and latency against offered load](throughput_latency.png)", "",
        f"Setup: a `LocalStack` (1 ingest, 2 workers, {SHARDS} shards, default settings"
        f"{tweak}) on a Redis without persistence, the load generator in the benchmark's "
        f"own process (httpx, async). Workload: `benchmarks.worker.Workload` (seed "
        f"{e2e_part.SEED}); outcomes of the flat-out run: {counts(e2e['txflow']['outcomes'])}. "
        "Latency is the ingest's `at` stamp to the ms of the outcome's `:out` entry ID; it "
        "does not include the client's own batching (≤ one tick). The raw pipeline "
        "(`benchmarks/pipeline.py`) moves the same payloads, `Tx.encode()`, with no "
        "validation, state or outcome.", "",
    ])  # fmt: skip


# --- scale ---------------------------------------------------------------------------------


def scale_table(scale: dict[str, Any]) -> list[str]:
    lines = [
        "| accounts | worker CPU µs/tx | Redis CPU µs/tx | wall tx/s | steady tx/s "
        "| worker peak RSS | Redis used memory | outcomes |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in scale["runs"]:
        lines.append(
            f"| {r['accounts']:,} | {r['worker_cpu_us_per_tx']:.1f} | "
            f"{r['redis_cpu_us_per_tx']:.1f} | {r['wall_tx_s']:,.0f} | {r['steady_tx_s']:,.0f} | "
            f"{r['peak_rss_mb']:.0f} MB | {r['redis_used_memory_mb']:.0f} MB | "
            f"{counts(r['outcomes'])} |"
        )
    return lines


def scale_section(scale: dict[str, Any], quick: bool, command: str, date: str, load: float) -> str:
    fixed = scale["fixed"]
    sizes = "quick mode: fewer accounts and entries than the full run's 1 k / 100 k / 1 M over 1 M"
    return "\n".join([
        *heading("Scale", command, date, load),
        *scale_table(scale), "",
        targets.table(targets.scale_targets(scale)), "",
        f"Each row: {scale['entries']:,} transactions pre-filled into {SHARDS} shard streams "
        "on a flushed Redis (no persistence) — the same types and amounts in the same order "
        "for every row, only the account names differ; the first entries name every account "
        "once, the rest accounts at random (60 % deposits, 30 % withdrawals, 10 % disputes "
        "and resolves of the account's latest deposit, of an unknown id when it has none) — "
        "drained by one `python -m services.worker --burst` with default settings but "
        f"`TXFLOW_BLOCK_MS={scale['block_ms']}` (its idle tail before exit); cache bound "
        f"`TXFLOW_CACHE_MAX_ACCOUNTS` = {scale['cache_max_accounts']:,}"
        f"{' (' + sizes + ')' if quick else ''}. CPU is psutil `cpu_times` (user + system) of "
        "the worker once it exited, less a burst worker's fixed cost on an empty deployment "
        f"({fixed['cpu_s']:.2f} s CPU: interpreter, imports, leases, idle tail), per "
        "transaction; Redis CPU likewise from the server's process. *Wall* is spawn to exit, "
        "*steady* first to last commit; RSS sampled every 50 ms.", "",
    ])  # fmt: skip


# --- the run -------------------------------------------------------------------------------


def machine_line(m: dict[str, Any]) -> str:
    return (
        f"{m['nproc']} cores ({m['cpu']}), Python {m['python']}, Redis {m['redis']}, "
        f"{platform.system()} {platform.release()}"
    )


def quick_scope(parts: dict[str, Any]) -> list[str]:
    """What quick mode measures less than the full run, part by part (full run's in brackets)."""
    lines = []
    ingest = parts.get("ingest", {}).get("result", {}).get("timing")
    if ingest:
        lines.append(
            f"ingest: {ingest['warmup_s']:g} s warm-up, then {ingest['measure_s']:g} s counted, "
            f"{ingest['rounds']} round per path"
            + ("" if ingest.get("context", True) else "; no bare endpoint with batch POSTs")
        )
    w, wf = worker_part.Sizes.of(True), worker_part.Sizes.of(False)
    e, ef = e2e_part.Sizes.of(True), e2e_part.Sizes.of(False)
    s, sf = scale_part.Sizes.of(True), scale_part.Sizes.of(False)
    accounts = " / ".join(f"{n:,}" for n in s.accounts)
    accounts_full = " / ".join(f"{n:,}" for n in sf.accounts)
    return [
        *lines,
        f"worker: {w.entries:,} transactions [{wf.entries:,}], one at a time on {w.single:,} "
        f"[{wf.single:,}], latency for {w.latency_s:g} s [{wf.latency_s:g} s], "
        f"`TXFLOW_BLOCK_MS={w.block_ms}` [default 1000]",
        f"end to end: {e.entries:,} transactions flat out [{ef.entries:,}], {e.paced_s:g} s per "
        f"offered load [{ef.paced_s:g} s], "
        + ", ".join(f"`{k}={v}`" for k, v in e.stack_env.items())
        + " [defaults]",
        f"scale: {accounts} accounts over {s.entries:,} transactions "
        f"[{accounts_full} over {sf.entries:,}]",
    ]


def run_section(doc: dict[str, Any], verdicts: list[targets.Target]) -> str:
    parts = doc["parts"]
    loads = ", ".join(f"{name} {p['load_before']:.2f}" for name, p in parts.items())
    times = ", ".join(f"{name} {p['seconds']:.0f} s" for name, p in parts.items())
    notes = [f"- {name}: {p['note']}" for name, p in parts.items() if p.get("note")]
    scope = [f"- {line}" for line in quick_scope(parts)] if doc["quick"] else []
    wait, raw = doc["load_wait"], document.shown(document.output("results.json", doc["quick"]))
    return "\n".join([
        "## Run", "",
        f"`{doc['command']}` — {doc['date']} — {'quick' if doc['quick'] else 'full'} mode, "
        f"{doc['seconds']:.0f} s ({times}).", "",
        *(["Quick mode measures every part on less [full run in brackets]:", "", *scope, ""]
          if scope else []),
        f"Machine: {machine_line(doc['machine'])}. 1-minute load average before the run "
        f"{wait['load']:.2f} (after waiting {wait['waited_s']:.0f} s for it to fall under "
        f"{wait['max_load']}); before each part: {loads} (each part's own load counts in "
        f"the next one's figure). Raw figures: `{raw}`.", "",
        *notes, *([""] if notes else []),
        targets.table(verdicts), "",
    ])  # fmt: skip
