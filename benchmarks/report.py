"""results.json → the tables of RESULTS.md (between its markers), and the chart.

Only tables come from here; the method and how to read the figures are
written by hand in RESULTS.md. Tables are rendered from the whole
results.json, so a part rerun alone (``--only``) keeps the others' figures.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BEGIN = "<!-- results: begin (written by benchmarks/run.py from results.json) -->"
END = "<!-- results: end -->"
CHART = "throughput_latency.png"
QUICK_HEAD = "# Benchmarks — quick run (indicative only; the method: benchmarks/RESULTS.md)\n"
Doc = dict[str, Any]

# DESIGN §7, one bound per line: part | figure of the part's result (@0 / @-1: of its
# first / last size) | bound | what is compared
TARGETS = """
ingest | batch_vs_raw          | ≥ 60%  | batch POSTs / raw pipelined XADD
ingest | batch_cpu_vs_floor    | ≤ 3x   | batch path server CPU per tx / orjson.loads + XADD packing
ingest | single_vs_bare        | ≥ 80%  | single POSTs / bare ASGI app
worker | vs_bare               | ≥ 45%  | steady tx/s / bare XREADGROUP + XACK loop
worker | vs_single             | ≥ 10x  | steady tx/s / one-at-a-time consumer
scale  | redis_vs_bare@0       | ≤ 2.5x | Redis CPU per tx / bare loop's per message, {n} accounts
scale  | state_bytes_per_tx@0  | ≤ 150B | Redis memory per stored tx, {n} accounts
scale  | redis_vs_bare@-1      | ≤ 3.5x | Redis CPU per tx / bare loop's per message, {n} accounts
scale  | state_bytes_per_tx@-1 | ≤ 300B | Redis memory per stored tx, {n} accounts
scale  | cost_ratio            | ≤ 1.2x | worker CPU per tx, most / fewest accounts
scale  | rss_ratio             | ≤ 1.2x | worker peak RSS, largest / smallest size
e2e    | ratio_vs_raw          | ≥ 70%  | 1 ingest + 2 workers / raw XADD + read + ack pipeline
"""
INGEST = {
    "bare_asgi_single": "bare ASGI app, single POSTs",
    "bare_fastapi_single": "bare FastAPI endpoint, single POSTs (context)",
    "ingest_single": "**ingest, single POSTs**",
    "raw_xadd": "raw pipelined XADD (hiredis, one socket), pipelines of 1,000",
    "ingest_batch": "**ingest, batch POSTs of 1,000**",
    "bare_asgi_batch": "bare ASGI app, the same batch POSTs (HTTP alone, context)",
}
SCALE = [  # column, figure of each size, format
    ("accounts", "accounts", ",.0f"),
    ("accounts named", "accounts_named", ",.0f"),
    ("worker CPU µs/tx", "cpu_us_per_tx", ".1f"),
    ("Redis CPU µs/tx", "redis_cpu_us_per_tx", ".1f"),
    ("bare loop Redis µs/msg", "bare_redis_cpu_us_per_msg", ".2f"),
    ("Redis / bare", "redis_vs_bare", ".2f"),
    ("state B/tx", "state_bytes_per_tx", ",.0f"),
    ("Redis used memory MB", "redis_used_memory_mb", ",.0f"),
    ("steady tx/s", "steady_tx_s", ",.0f"),
    ("wall tx/s", "wall_tx_s", ",.0f"),
    ("worker peak RSS MB", "peak_rss_mb", ",.0f"),
    ("outcomes", "outcomes", ""),
]
PATH = [("tx_s", ",.0f"), ("server_cpu_us_per_tx", ".1f"), ("redis_cpu_us_per_tx", ".1f")]
PATH += [("entries_per_pipeline", ",.1f")]
SWEEP = [("offered_tx_s", ",.0f"), ("seconds", ".1f"), ("applied_tx_s", ",.0f")]
SWEEP += [("p50_ms", "d"), ("p99_ms", "d"), ("max_ms", "d")]
WAIT = [("tx_s", ",.0f"), ("request_p50_ms/request_p99_ms", "")]
WAIT += [("commit_p50_ms/commit_p99_ms", ""), ("statuses", ""), ("ingest_cpu_us_per_tx", ".1f")]
REPLICAS = [("accepted_tx_s", ",.0f"), ("applied_tx_s", ",.0f"), ("p50_ms/p99_ms", "")]
REPLICAS += [("outcomes", "")]


def cell(value: Any, spec: str) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{kind} {n:{spec or ','}}" for kind, n in value.items())
    return "n/a" if value is None else f"{value:{spec}}"


def cells(p: Doc, columns: list[tuple[str, str]]) -> list[str]:
    """``p``'s figures by (figure, format); a figure ``a/b`` shows ``p[a] / p[b]``."""
    return [
        " / ".join(str(p[k]) for k in f.split("/")) if "/" in f else cell(p.get(f), spec)
        for f, spec in columns
    ]


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table; columns of figures only are aligned right."""
    figure = re.compile(r"^(n/a|[\d,.]+ ?(%|x|B|MB|ms)?|)$")
    right = [all(figure.match(r[i]) for r in rows) for i in range(len(header))]
    rule = "|".join("---:" if r else "---" for r in right)
    return [f"| {' | '.join(header)} |", f"|{rule}|", *(f"| {' | '.join(r)} |" for r in rows), ""]


def result(parts: dict[str, Doc], name: str) -> Doc:
    return dict(parts.get(name, {}).get("result") or {})


def targets(parts: dict[str, Doc]) -> list[list[str]]:
    """Every DESIGN §7 bound against what the last run of its part measured."""
    rows = []
    for line in TARGETS.strip().splitlines():
        part, key, bound, label = (field.strip() for field in line.split("|"))
        if not (found := result(parts, part)):
            continue
        key, _, at = key.partition("@")
        figures = found["runs"][int(at)] if at else found
        measured, sign, unit = figures.get(key), bound[0], bound.rstrip("0123456789.")[-1]
        limit = float(bound[1:].strip(" %xB")) / (100 if unit == "%" else 1)
        text = {"%": "{:.0%}", "x": "{:.2f}x", "B": "{:,.0f} B"}[unit].format
        met = measured is not None and (measured >= limit if sign == "≥" else measured <= limit)
        status = "n/a" if measured is None else "met" if met else "**NOT met**"
        label = found.get("labels", {}).get(key, label.format(n=f"{figures.get('accounts', 0):,}"))
        shown = "n/a" if measured is None else text(measured)
        rows.append([part, label, shown, f"{sign} {text(limit)}", status])
    return rows


def ingest(r: Doc) -> list[str]:
    labels, got = r.get("labels", {}), r["paths"]
    rows = [[labels.get(k, name), *cells(got[k], PATH)] for k, name in INGEST.items() if k in got]
    floor = "floor: `orjson.loads` + XADD packing of the batch items (in process)"
    rows.append([floor, "", cell(r.get("floor_us_per_tx"), ".2f"), "", ""])
    header = ["path", "tx/s", "server CPU µs/tx", "Redis CPU µs/tx", "entries per XADD pipeline"]
    return table(header, rows)


def worker(r: Doc) -> list[str]:
    w, bare, one, labels = r["worker"], r["bare"], r["single"], r.get("labels", {})
    rows = [
        ["worker: steady tx/s (first → last commit)", cell(w["steady_tx_s"], ",.0f")],
        [f"worker: wall tx/s (spawn → exit, {w['entries']:,} tx)", cell(w["wall_tx_s"], ",.0f")],
        ["worker: own CPU µs/tx (net of start-up)", cell(w.get("cpu_us_per_tx"), ".1f")],
        ["worker: Redis CPU µs/tx", cell(w.get("redis_cpu_us_per_tx"), ".1f")],
        ["worker: peak RSS MB", cell(w["peak_rss_mb"], ".0f")],
        [labels.get("bare", "bare loop (hiredis, one socket): msg/s"), cell(bare["msg_s"], ",.0f")],
        ["bare loop: Redis CPU µs/msg", cell(bare.get("redis_cpu_us_per_msg"), ".2f")],
        [labels.get("single", "one at a time (hiredis): msg/s"), cell(one["msg_s"], ",.0f")],
        ["Redis CPU per tx / bare loop's per message", cell(r.get("redis_vs_bare"), ".2f")],
        ["steady / bare loop, by round", ", ".join(f"{x['vs_bare']:.0%}" for x in r["rounds"])],
        ["outcomes", cell(w["outcomes"], "")],
    ]
    return table(["measure", "result"], rows)


def scale(r: Doc) -> list[str]:
    rows = [[cell(size.get(key), spec) for _, key, spec in SCALE] for size in r["runs"]]
    return table([column for column, _, _ in SCALE], rows)


def e2e(r: Doc, chart: bool) -> list[str]:
    raw, flat, labels = r["raw"], r["txflow"], r.get("labels", {})
    half = next(p for p in r["sweep"] if p["fraction"] == 0.5)
    raw_label = labels.get("raw", f"raw pipeline (hiredis, one socket), {raw['messages']:,} tx")
    accepted, applied = cell(flat["accepted_tx_s"], ",.0f"), cell(flat["applied_tx_s"], ",.0f")
    rows = [
        [raw_label, cell(raw["msg_s"], ",.0f")],
        [f"txflow flat out, {flat['entries']:,} tx: accepted tx/s", accepted],
        ["txflow flat out: applied tx/s, first POST → last commit (**peak**)", applied],
        [f"latency accepted → applied at ½ peak ({half['offered_tx_s']:,.0f} tx/s offered)", ""],
        [f"CPU s while flat out ({flat['span_s']:.1f} s)", cell(flat.get("cpu_s"), ".1f")],
        ["outcomes (flat out)", cell(flat["outcomes"], "")],
    ]
    rows[3][1] = f"p50 {half['p50_ms']} ms · p99 {half['p99_ms']} ms · max {half['max_ms']} ms"
    sweep = [[f"{p['fraction']:.0%}", *cells(p, SWEEP)] for p in r["sweep"]]
    head = ["offered", "offered tx/s", "posting s", "achieved tx/s", "p50 ms", "p99 ms", "max ms"]
    shown = [f"![achieved throughput and latency against offered load]({CHART})", ""] * chart
    return [*table(["measure", "result"], rows), *table(head, sweep), *shown]


def wait(r: Doc) -> list[str]:
    """``Prefer: wait`` against the asynchronous path, single POSTs at half their peak."""
    half = f"½ peak ({r['offered_tx_s']:,.0f} tx/s offered)"
    flat = f"single POSTs flat out, {r['peak']['entries']:,} tx ({r['connections']} connections)"
    runs = {"peak": f"{flat}: **peak**", "async": f"{half}, 202, outcome learnt later"}
    runs["sync"] = f"{half}, Prefer: wait, 200"
    rows = [[label, *cells(r[name], WAIT)] for name, label in runs.items()]
    rows[0][2:5] = ["", "", ""]  # flat out: nothing waited for
    head = ["path", "tx/s", "request p50 / p99 ms", "accepted → committed p50 / p99 ms"]
    return table([*head, "answers", "ingest CPU µs/tx"], rows)


def replicas(r: Doc) -> list[str]:
    """The end-to-end peak with a replica on the same machine, without and with WAIT."""
    runs = [(f"TXFLOW_MIN_REPLICAS={n}", r[f"min_replicas_{n}"]) for n in (0, 1)]
    rows = [[f"{run}, {p['entries']:,} tx flat out", *cells(p, REPLICAS)] for run, p in runs]
    rows.append(["applied tx/s, 1 against 0", "", f"**{r['ratio']:.2f}**", "", ""])
    head = ["run", "accepted tx/s", "applied tx/s", "accepted → applied p50 / p99 ms"]
    return table([*head, "outcomes"], rows)


def run(p: Doc) -> list[str]:
    date = p["date"] + (f" — from the previous harness ({p['harness']})" if "harness" in p else "")
    status = f"failed: {p['error']}" if p.get("error") else "ok"
    return [date, p["mode"], cell(p.get("load_before"), ".2f"), cell(p["seconds"], ".0f"), status]


def render(doc: Doc, chart: bool) -> str:
    m, parts = doc["machine"], doc["parts"]
    lines = [f"Machine: {m.get('nproc')} cores ({m.get('cpu')}), Python {m.get('python')}, "]
    lines[0] += f"Redis {m.get('redis')}, {m.get('kernel')}."
    runs = [[name, *run(p)] for name, p in parts.items()]
    lines += ["", *table(["part", "run", "mode", "load average before", "seconds", "status"], runs)]
    lines += ["### Targets (DESIGN §7)", ""]
    lines += table(["part", "target", "measured", "bound", "status"], targets(parts))
    for name, title, tables in (("ingest", "Ingest", ingest), ("worker", "Worker", worker)):
        lines += [f"### {title}", "", *tables(r)] if (r := result(parts, name)) else []
    lines += ["### Scale", "", *scale(r)] if (r := result(parts, "scale")) else []
    lines += ["### End to end", "", *e2e(r, chart)] if (r := result(parts, "e2e")) else []
    lines += ["### Waiting for the outcome", "", *wait(r)] if (r := result(parts, "wait")) else []
    title = "### A replica, waited for (TXFLOW_MIN_REPLICAS)"
    lines += [title, "", *replicas(r)] if (r := result(parts, "replicas")) else []
    return "\n".join(lines).rstrip() + "\n"


def folder(quick: bool) -> Path:
    return HERE / "quick" if quick else HERE


def load(quick: bool) -> Doc:
    path = folder(quick) / "results.json"
    doc: Doc = json.loads(path.read_text()) if path.exists() else {}
    return {"machine": {}, "parts": {}} | doc


def write(doc: Doc, quick: bool, chart: bool) -> list[Path]:
    """results.json and RESULTS.md's generated block, of the mode; the chart when ``chart``."""
    out = folder(quick)
    out.mkdir(exist_ok=True)
    (out / "results.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    written = [out / "results.json", out / "RESULTS.md"]
    if chart and result(doc["parts"], "e2e"):
        written += draw(doc["parts"]["e2e"], out / CHART)
    block = f"{BEGIN}\n\n{render(doc, (out / CHART).exists())}\n{END}"
    if quick:
        (out / "RESULTS.md").write_text(f"{QUICK_HEAD}\n{block}\n")
    else:
        head, _, rest = (out / "RESULTS.md").read_text().partition(BEGIN)
        (out / "RESULTS.md").write_text(head + block + rest.partition(END)[2])
    return written


def draw(part: Doc, out: Path) -> list[Path]:
    """Left: applied vs offered tx/s; right: latency p50 / p99. Needs matplotlib (bench extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    r, points = part["result"], part["result"]["sweep"]
    offered = [p["offered_tx_s"] for p in points]
    ticks = [f"{p['offered_tx_s']:,.0f}\n({p['fraction']:.0%})" for p in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
    left.plot(offered, [p["applied_tx_s"] for p in points], "o-", label="applied (txflow)")
    left.plot(offered, offered, ":", color="grey", label="applied = offered")
    left.axhline(r["txflow"]["applied_tx_s"], color="C2", ls="--", label="peak (flat out)")
    left.set_title(f"throughput (raw pipeline: {r['raw']['msg_s']:,.0f} tx/s)", fontsize=10)
    left.set(xlabel="offered tx/s (share of peak)", ylabel="applied tx/s")
    right.plot(offered, [p["p50_ms"] for p in points], "o-", label="p50")
    right.plot(offered, [p["p99_ms"] for p in points], "s-", label="p99")
    right.set(xlabel="offered tx/s (share of peak)", ylabel="accepted → applied, ms")
    for axes in (left, right):
        axes.set_xticks(offered, ticks, fontsize=8)
        axes.set_ylim(bottom=0)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    fig.suptitle(f"txflow end to end: 1 ingest + 2 workers — {part['date']} ({part['mode']})")
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return [out]
