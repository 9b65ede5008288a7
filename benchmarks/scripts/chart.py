#!/usr/bin/python3
"""Draws a result's paired bar chart as PNG with matplotlib: on the machine that fetched the results, since the GPU
machines reach no package index (Debian: apt-get install python3-matplotlib; hence /usr/bin/python3).

    chart.py SUMMARY_JSON [OUT_PNG]      # default: summary.png beside the JSON

SUMMARY_JSON holds {"chart": {"title", "series": [A, B], "rows": [[label, value_a, value_b or null], ...]}}, as
gpu-summary.py writes it. Each row gets its own panel scaled to the larger of its two values (tokens/s differ by
orders of magnitude between prefill and decode, so one shared scale would hide every decode row), the values at the
bars and the ratio A / B in the panel's title.
"""
import json
import os
import sys

try:
    import matplotlib
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("chart.py needs matplotlib (Debian: apt-get install python3-matplotlib)")


def draw(chart, out):
    rows = chart["rows"]
    if not rows:
        raise ValueError("the chart has no rows")
    a_name, b_name = chart["series"]
    fig, axes = plt.subplots(len(rows), 1, figsize=(8, 0.9 * len(rows) + 1.2), squeeze=False)
    for ax, (label, a, b) in zip(axes[:, 0], rows):
        names, values, colours = [a_name], [a], ["tab:blue"]
        if b is not None:
            names.append(b_name)
            values.append(b)
            colours.append("tab:orange")
        bars = ax.barh(names, values, color=colours)
        ax.bar_label(bars, labels=[f"{v:,.1f}" for v in values], padding=3, fontsize=8)
        ax.set_xlim(0, max(values) * 1.25)
        ax.invert_yaxis()
        ax.set_xticks([])
        ax.tick_params(axis="y", labelsize=8)
        ratio = f"   {a / b:.2f}x" if b else ""
        ax.set_title(f"{label}{ratio}", fontsize=9, loc="left")
        for side in ("top", "right", "bottom"):
            ax.spines[side].set_visible(False)
    fig.suptitle(chart["title"], fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    src = sys.argv[1]
    with open(src) as f:
        chart = json.load(f).get("chart")
    if not chart:
        sys.exit(f"{src} has no \"chart\" (gpu-summary.py writes one)")
    out = sys.argv[2] if len(sys.argv) == 3 else os.path.join(os.path.dirname(os.path.abspath(src)), "summary.png")
    draw(chart, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
