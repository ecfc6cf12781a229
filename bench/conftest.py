"""Prints, after the benchmark table, each benchmark's median as a ratio to the
baseline of its group (the benchmark whose name holds "baseline"), all from
the same run: absolute numbers move with the machine's load, ratios much less.
"""


def pytest_terminal_summary(terminalreporter, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    groups: dict[str, list] = {}
    for bench in session.benchmarks:
        if bench.stats is None or not getattr(bench.stats, "rounds", 0):
            continue
        groups.setdefault(bench.group or "(no group)", []).append(bench)
    lines = []
    for group, benches in sorted(groups.items()):
        base = next((b for b in benches if "baseline" in b.name), None)
        if base is None:
            for b in benches:  # self-contained comparisons carry their figures in extra_info
                extra = {k: v for k, v in b.extra_info.items()
                         if (k.endswith("_us") or k == "ratio" or k.startswith("ratio_")) and v is not None}
                if extra:
                    lines.append(f"{group}: {b.name}")
                    lines.append("        " + "  ".join(f"{k} {v:.3f}" for k, v in extra.items()))
            continue
        base_median = base.stats.median
        lines.append(f"{group}: baseline {base.name} median {base_median * 1e6:.3f} us")
        for b in sorted(benches, key=lambda b: b.stats.median):
            lines.append(
                f"    {b.name:<55} median {b.stats.median * 1e6:10.3f} us   ratio {b.stats.median / base_median:7.3f}"
            )
            extra = {k: v for k, v in b.extra_info.items() if k.endswith("_us") or k == "ratio"}
            if extra:
                lines.append("        " + "  ".join(f"{k} {v:.1f}" for k, v in extra.items()))
    if lines:
        terminalreporter.section("medians as ratios to each group's baseline (same run)")
        for line in lines:
            terminalreporter.write_line(line)
