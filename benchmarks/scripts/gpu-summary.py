#!/usr/bin/env python3
"""Summarises one gpu-run.sh result directory: Markdown on stdout and summary.json (the table's rows, and the
bloom4j and llama.cpp tokens/s per test that chart.py draws as summary.png with matplotlib, on a machine that has it:
the GPU machines reach no package index).

    gpu-summary.py DIR [--peak-tflops 989] [--peak-gbps 4800]

DIR holds reference.json (DeviceReference), jmh-<model>-<type>.json (JMH InferenceBenchmark, -rf json) and
llama-bench-<model>-<type>.json (llama-bench -o json). For each model and type: prefill tokens/s and TFLOP/s per
prompt length with MFU against the datasheet peak and against the same run's GEMM; decode tokens/s and GB/s per
context with MBU against the datasheet bandwidth and the same run's copy; llama.cpp's tokens/s for the same tests
and the ratio bloom4j / llama.cpp.
"""
import argparse
import glob
import json
import os
import re
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def jmh_rows(path):
    """(test, size, batch) -> (tokens/s, GFLOP/s, GB/s or None) from a JMH result file; batch 0 = the default."""
    rows = {}
    for r in load(path):
        name = r["benchmark"].rsplit(".", 1)[-1]
        params = r.get("params", {})
        sec = r.get("secondaryMetrics", {})
        if name == "prefill":
            size, batch = int(params["promptTokens"]), int(params.get("batch", 0))
            rows[("prefill", size, 0 if batch in (0, 512) else min(batch, size))] = (
                sec["tokens"]["score"], sec["gflop"]["score"], None)
        elif name == "decode":
            size = int(params["context"])
            gbyte = sec.get("gbyte", {}).get("score")
            rows[("decode", size, 0)] = (sec["tokens"]["score"], sec["gflop"]["score"], gbyte)
    return rows


def llama_rows(path):
    """(test, size) -> tokens/s from llama-bench's JSON (or a bloom4j harness's): pp<N> is prefill of N, tg<N> decode
    from an empty cache."""
    rows = {}
    try:
        data = load(path)
    except (OSError, ValueError):
        return rows
    if isinstance(data, dict):  # bloom4j's harnesses: llama-bench's fields under "tests"
        data = data.get("tests", [])
    for r in data:
        if r.get("n_gen", 0) == 0:
            if int(r.get("n_depth", 0)) == 0:
                rows[("prefill", int(r["n_prompt"]))] = r["avg_ts"]
        else:
            rows[("decode", int(r.get("n_depth", 0)))] = r["avg_ts"]
    return rows


def java_overhead(d):
    """Markdown lines: the same pp/tg through the Java API and through the C harness, and the FFM call cost."""
    out = []
    java, c = llama_rows(os.path.join(d, "harness-java.json")), llama_rows(os.path.join(d, "harness-c.json"))
    if java and c:
        out += ["", "Java overhead: llama-bench's tests through the Java API (LlamaBenchCompatible) and through the C "
                "harness (benchmarks/native/llama-bench-compatible.cpp), same library and model, back to back.", "",
                "| test | Java t/s | C t/s | Java / C |", "|---|---:|---:|---:|"]
        for key in sorted(set(java) & set(c)):
            test, size = key
            label = f"pp{size}" if test == "prefill" else "tg (from an empty cache)"
            out.append(f"| {label} | {java[key]:.1f} | {c[key]:.1f} | **{java[key] / c[key]:.3f}** |")
    try:
        calls = load(os.path.join(d, "downcall.json"))
    except (OSError, ValueError):
        calls = []
    what = {"position": "a session call through the Java API (checks + one plain FFM downcall)",
            "abiVersionPlain": "one plain FFM downcall (bloom_abi_version)",
            "abiVersionCritical": "the same through a Linker.Option.critical handle"}
    if calls:
        out += ["", "| DowncallBenchmark | ns/op |", "|---|---:|"]
    for r in calls:
        pm = r["primaryMetric"]
        err = pm.get("scoreError")
        err = f" ± {err:.1f}" if isinstance(err, (int, float)) else ""  # JMH writes "NaN" for one iteration
        name = r["benchmark"].rsplit(".", 1)[-1]
        out.append(f"| {what.get(name, name)} | {pm['score']:.1f}{err} |")
    return out


def logits_check(d):
    """The GPU-vs-CPU logits lines (gpu-run.sh logits), if that step ran."""
    out = []
    test = os.path.join(d, "logits-test.log")
    if os.path.exists(test):
        text = open(test).read()
        verdict = ("passed" if re.search(r"\b1 tests successful", text) else
                   "skipped (no GPU)" if re.search(r"\b1 tests aborted", text) else "FAILED")
        out += ["", f"GPU vs CPU logits: BloomModelTest's GPU test (tiny f32 model, bound 2e-3 of the range): {verdict}."]
    for path in sorted(glob.glob(os.path.join(d, "logits-*.json"))):
        model = os.path.basename(path)[len("logits-"):-len(".json")]
        try:
            r = load(path)
        except ValueError:
            out.append(f"GPU vs CPU logits, {model} bf16: FAILED (no result; see the run's log).")
            continue
        if r.get("relative_error") is None:
            out.append(f"GPU vs CPU logits, {model} bf16: FAILED (non-finite or all-zero logits).")
            continue
        out.append(f"GPU vs CPU logits, {model} bf16, {r['tokens']} tokens: largest difference {r['max_abs_error']:.3g} "
                   f"of a range {r['range']:.3g} ({r['relative_error']:.2%}), same argmax: {r['argmax_equal']}, "
                   f"top-10 overlap {r['top10_overlap']}/10.")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--peak-tflops", type=float, default=989.0)
    ap.add_argument("--peak-gbps", type=float, default=4800.0)  # H200; an H100 SXM: 3350
    a = ap.parse_args()

    ref = load(os.path.join(a.dir, "reference.json"))
    gemm, copy = ref["gemm"]["tflops"], ref["copy"]["gb_per_s"]
    out = [f"# bloom4j on {ref['device']['description']} ({ref['device']['name']})", ""]
    machine = os.path.join(a.dir, "machine.txt")
    if os.path.exists(machine):
        out += ["```", open(machine).read().strip(), "```", ""]
    out += [f"Same-run references: GEMM [{ref['gemm']['tokens']} x {ref['gemm']['k']}] x [{ref['gemm']['k']} x "
            f"{ref['gemm']['rows']}] {ref['gemm']['type']}: {gemm:.1f} TFLOP/s ({gemm / a.peak_tflops:.0%} of the "
            f"{a.peak_tflops:g} datasheet); copy of {ref['copy']['bytes'] / 2**30:.1f} GiB: {copy:.0f} GB/s read+written "
            f"({copy / a.peak_gbps:.0%} of {a.peak_gbps:g}).", "",
            "| model | type | test | bloom4j t/s | TFLOP/s | MFU (datasheet) | of GEMM | GB/s | MBU (datasheet) | of copy "
            "| llama.cpp t/s | ratio |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    chart, table = [], []
    for path in sorted(glob.glob(os.path.join(a.dir, "jmh-*.json"))):
        m = re.match(r"jmh-(.+)-([a-z0-9_]+)\.json$", os.path.basename(path))
        if not m:
            continue
        model, wtype = m.groups()
        ours = jmh_rows(path)
        big = os.path.join(a.dir, f"jmhbig-{model}-{wtype}.json")  # the longest prompt as one graph
        if os.path.exists(big):
            ours.update(jmh_rows(big))
        theirs = llama_rows(os.path.join(a.dir, f"llama-bench-{model}-{wtype}.json"))
        for (test, size, batch), (tps, gflops, gbps) in sorted(ours.items()):
            tflops = gflops / 1000
            label = (f"pp{size}" + (f" b{batch}" if batch else "")) if test == "prefill" else f"tg @ {size}"
            llama = None if batch else theirs.get((test, size))  # llama-bench's micro-batch is 512
            ratio = f"**{tps / llama:.2f}**" if llama else "-"
            mbu = f"{gbps / a.peak_gbps:.0%}" if gbps else "-"
            of_copy = f"{gbps / copy:.2f}" if gbps else "-"
            out.append(f"| {model} | {wtype} | {label} | {tps:.1f} | {tflops:.2f} | {tflops / a.peak_tflops:.1%} | "
                       f"{tflops / gemm:.2f} | {f'{gbps:.0f}' if gbps else '-'} | {mbu} | {of_copy} | "
                       f"{f'{llama:.1f}' if llama else '-'} | {ratio} |")
            chart.append((f"{model} {wtype} {label}", tps, llama))
            table.append({"model": model, "type": wtype, "test": test, "size": size,
                          "batch": (batch or 512) if test == "prefill" else None,
                          "tokens_per_s": tps,
                          "tflops": tflops, "mfu_datasheet": tflops / a.peak_tflops, "of_gemm": tflops / gemm,
                          "gb_per_s": gbps, "mbu_datasheet": gbps / a.peak_gbps if gbps else None,
                          "of_copy": gbps / copy if gbps else None, "llama_tokens_per_s": llama,
                          "ratio": tps / llama if llama else None})
    out += ["", "llama.cpp's decode figures are llama-bench's tg128 at depth -d 128 and 2048 (128 tokens generated "
            "after that many cached), bloom4j's one token at exactly that context: close, not identical. "
            "Prefill rows evaluate the prompt in graphs of 512 tokens, as llama-bench's default micro-batch does; "
            "a row marked b2048 evaluates it as one graph (no llama.cpp figure: a different setting)."]
    if any(re.search(r"-L\d+-", os.path.basename(p)) for p in glob.glob(os.path.join(a.dir, "jmh-*.json"))):
        out += ["", "A model named SHAPE-L<n> is that shape cut to its first n blocks (bloom init-random --layers n), "
                "measured for prefill only: bloom-L2 is two bloom-176B blocks with their embeddings. The lm_head "
                "runs on the last prompt token only and the last block's MLP too (as in llama.cpp, and counted so), "
                "so its TFLOP/s is that of the 176B layer's matrix products."]
    out += java_overhead(a.dir)
    out += logits_check(a.dir)
    print("\n".join(out))

    chart_title = f"bloom4j vs llama.cpp, tokens/s: {ref['device']['description']}"
    with open(os.path.join(a.dir, "summary.json"), "w") as f:
        json.dump({"machine": open(machine).read().strip().splitlines() if os.path.exists(machine) else [],
                   "device": ref["device"], "reference": {"gemm_tflops": gemm, "copy_gb_per_s": copy},
                   "peak": {"tflops": a.peak_tflops, "gb_per_s": a.peak_gbps}, "rows": table,
                   "chart": {"title": chart_title, "series": ["bloom4j (Java)", "llama.cpp"],
                             "rows": [list(r) for r in chart]}}, f, indent=2)


if __name__ == "__main__":
    main()
