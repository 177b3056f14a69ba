#!/usr/bin/env python3
"""Markdown tables from bench_attention / bench_mlp JSON (for README and notes).

    python3 scripts/bench_tables.py bench/results/attention-*.json bench/results/mlp-*.json
"""
import json
import sys


def attention(d):
    impls = ["mlopt-mma", "torch-flash", "torch-cudnn", "torch-efficient"]
    print(f"bench_attention, {d['device']}, torch {d['torch_version']}, {d['date'][:10]}; "
          f"copy bandwidth {d['copy_bandwidth']['gbps']:.0f} GB/s\n")
    print("| case | " + " | ".join(impls) + " | mlopt / flash |")
    print("|---" * (len(impls) + 2) + "|")
    for c in d["cases"]:
        by = {r["impl"]: r for r in c["results"]}
        if c["kind"] == "decode":
            row = [by.get("mlopt-auto")] + [by.get(i) for i in impls[1:]]
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
        ours, flash = row[0], row[1]
        ratio = f"{ours[key] / flash[key]:.2f}x" if ours and flash and key in ours and key in flash else "n/a"
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


for path in sys.argv[1:]:
    data = json.load(open(path))
    (attention if "copy_bandwidth" in data else mlp)(data)
