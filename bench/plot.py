#!/usr/bin/env python3
"""Plots requests/s against connections for strata and its floor, from the results that
`make bench` left in target/bench (or DIR), into bench/plot.png (or OUT): matplotlib,
installed with pip if missing.   python3 bench/plot.py [DIR [OUT]]"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

try:
    import matplotlib
except ImportError:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "matplotlib"], check=True)
    import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ORDER = ["sqlite-redis", "sqlite-memory", "postgres-redis", "mysql-redis"]
SERIES = [("me", "GET /api/users/me"), ("tasks", "GET /api/tasks")]


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "bench")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "plot.png")
    files = [os.path.join(src, f"results-{k}.json") for k in ORDER]
    files = [f for f in files if os.path.exists(f)]
    if not files:
        raise SystemExit("no target/bench/results-*.json: run `make bench` first")
    cols = min(2, len(files))
    rows = (len(files) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.6 * cols, 4.3 * rows), squeeze=False)
    for ax in axes.flat[len(files):]:
        ax.set_visible(False)
    for ax, path in zip(axes.flat, files):
        with open(path) as f:
            r = json.load(f)
        cfg = r["config"]
        for (key, label), color in zip(SERIES, ("tab:blue", "tab:orange")):
            pts = sorted((s["conns"], s) for s in r["scenarios"] if s["key"] == key)
            if not pts:
                continue
            xs = [c for c, _ in pts]
            for server, style in (("strata", "-o"), ("floor", "--s")):
                ys = [s[server]["rps"] for _, s in pts if s.get(server)]
                if len(ys) == len(xs):
                    ax.plot(xs, ys, style, color=color, label=f"{label} ({server})")
        ax.set_xscale("log", base=2)
        ax.set_xticks(cfg["connections"])
        ax.set_xticklabels([str(c) for c in cfg["connections"]])
        ax.set_ylim(bottom=0)
        ax.set_xlabel("connections (wrk, 2 threads)")
        ax.set_ylabel("requests/s (median)")
        built = r["meta"].get("strata", "").split(",")[0].replace("api binary built ", "strata built ")
        ax.set_title(f"{cfg['db']} + {cfg['store']} store\n{built or 'strata'}", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("strata (solid) against its floor (dashed), 2 vCPUs, loopback", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {os.path.relpath(out, ROOT)}")


if __name__ == "__main__":
    main()
