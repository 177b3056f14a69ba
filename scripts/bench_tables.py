#!/usr/bin/env python3
"""Markdown tables from bench_attention / bench_mlp / bench_models JSON (for README and notes).

    python3 scripts/bench_tables.py bench/results/attention-*.json bench/results/mlp-*.json
"""
import json
import sys


def attention(d):
    # mlopt's columns first (what auto ran, then the kernels forced), the
    # first of them compared with torch-flash.
    present = {r["impl"] for c in d["cases"] for r in c["results"]}
    ours = [i for i in ["mlopt-auto", "mlopt-sm90", "mlopt-mma"] if i in present]
    impls = ours + ["torch-flash", "torch-cudnn", "torch-efficient"]
    print(f"bench_attention, {d['device']}, torch {d['torch_version']}, {d['date'][:10]}; "
          f"copy bandwidth {d['copy_bandwidth']['gbps']:.0f} GB/s\n")
    print("| case | " + " | ".join(impls) + " | mlopt / flash |")
    print("|---" * (len(impls) + 2) + "|")
    for c in d["cases"]:
        by = {r["impl"]: r for r in c["results"]}
        if c["kind"] == "decode":
            row = [by.get("mlopt-auto")] + [None] * (len(ours) - 1) + [by.get(i) for i in impls[len(ours):]]
            unit, key = "GB/s", "gbps"
        else:
            row = [by.get(i) for i in impls]
            unit, key = "TFLOP/s", "tflops"
        cells = []
        for r in row:
            if r is None or not r.get("available", False) or key not in r:
                cells.append("n/a")
            else:
                cells.append(f"{r[key]:.0f}")
        mine = next((r for r in row[:len(ours)] if r and key in r), None)
        flash = row[len(ours)]
        ratio = f"{mine[key] / flash[key]:.2f}x" if mine and flash and key in mine and key in flash else "n/a"
        label = c["label"].replace("prefill bf16 ", "").replace("decode ", "decode ")
        print(f"| {label} ({unit}) | " + " | ".join(cells) + f" | {ratio} |")
    print()


def mlp(d):
    print(f"bench_mlp, {d['device']}, torch {d['torch_version']}, {str(d['date'])[:10]}\n")
    print("| model | tokens | variant | ms | TFLOP/s | vs unfused | intermediates MiB |")
    print("|---|---|---|---|---|---|---|")
    for c in d["cases"]:
        variants = [v for v in c["variants"] if "median_ms" in v]
        unfused = next(v for v in variants if v["variant"] == "unfused")
        for v in variants:
            name = v["variant"] + (f" (auto: {c['auto_impl']})" if v["variant"] == "fused" else "")
            print(f"| {c['model']} | {c['tokens']} | {name} | {v['median_ms']:.4f} | {v['tflops']:.1f} | "
                  f"{unfused['median_ms'] / v['median_ms']:.2f}x | {v['intermediate_bytes'] / 2**20:.1f} |")
    print()


def models(d):
    print(f"bench_models, {d['model']}, {d['device']}, {d['dtype']}, torch {d['torch_version']}, {d['date'][:10]}\n")
    print("| batch x seq | variant | median ms | p10 / p90 ms | tokens/s | peak memory | vs baseline |")
    print("|---|---|---|---|---|---|---|")
    for r in d["runs"]:
        shape = r["input_spec"].split("[")[1].rstrip("]").replace(",", " x ")
        s = r["stats"]
        peak = f"{r['peak_memory_bytes'] / 2**30:.2f} GiB" if r.get("peak_memory_bytes") else "n/a"
        print(f"| {shape} | {r['variant']} | {s['median_ms']:.3f} | {s['p10_ms']:.3f} / {s['p90_ms']:.3f} | "
              f"{r['tokens_per_second']:,.0f} | {peak} | {r.get('speedup_vs_baseline', 1.0):.2f}x |")
    print()


for path in sys.argv[1:]:
    data = json.load(open(path))
    if data.get("benchmark") == "models":
        models(data)
    else:
        (attention if "copy_bandwidth" in data else mlp)(data)
