"""Figures: percentiles, tables, and bench/results.md."""
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results.md"


def percentile(values, fraction):
    """Nearest-rank percentile of a list of numbers; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def latency_ms(values):
    """p50, p95, p99 in milliseconds of a list of seconds."""
    return tuple(None if v is None else v * 1000 for v in
                 (percentile(values, 0.50), percentile(values, 0.95), percentile(values, 0.99)))


def fmt(value, digits=1):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(title, header, rows, notes=()):
    """A markdown table (printed and kept for results.md)."""
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows]
    lines += [""] + [f"- {note}" for note in notes] + ([""] if notes else [])
    text = "\n".join(lines)
    print("\n" + text, flush=True)
    return text


def machine():
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}".strip()


def commit():
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True, cwd=RESULTS.parent).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, cwd=RESULTS.parent).stdout
        return sha + ("+changes" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def append_results(sections, smoke, path=RESULTS):
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    kind = "smoke run (tiny sizes, figures not meaningful)" if smoke else "full run"
    header = f"## {stamp}, commit {commit()}, {kind}\n\nMachine: {machine()}\n"
    with open(path, "a") as f:
        f.write("\n" + header + "\n" + "\n".join(sections) + "\n")
