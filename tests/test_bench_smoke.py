"""The benchmarks still run: every one of them at tiny sizes (``--smoke``), against
services of their own. The figures are not judged here, only that each benchmark
produced its table."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_benchmark_runs_at_smoke_size(tmp_path):
    results = tmp_path / "results.md"
    run = subprocess.run([sys.executable, "-W", "ignore", "-m", "bench", "--smoke",
                          "--results", str(results)], cwd=ROOT, capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    text = results.read_text()
    for title in ("RPC throughput and latency", "Pipeline at", "Outbox relay",
                  "Scale of data", "Fan-out of one announcement", "Memory"):
        assert f"### {title}" in text, title
    assert "FAILED" not in text
    assert "smoke run" in text and "commit " in text and "Machine:" in text
