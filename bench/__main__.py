"""``python -m bench [NAME ...] [--smoke] [--results FILE]``

NAME: rpc, pipeline, outbox, fanout, scale (default: all, in that order). Memory (6)
is read from every service before and after the run. See docs/performance.md.
"""
import eventlet

eventlet.monkey_patch()  # noqa: E402  (before anything imports socket or threading)

import argparse  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from psycogreen.eventlet import patch_psycopg  # noqa: E402

patch_psycopg()

from bench import fanout_bench, outbox_bench, pipeline_bench, report, rpc_bench  # noqa: E402
from bench import scale_bench  # noqa: E402
from bench.stack import SERVICES, Stack  # noqa: E402

BENCHMARKS = {"rpc": rpc_bench, "pipeline": pipeline_bench, "outbox": outbox_bench,
              "scale": scale_bench, "fanout": fanout_bench}
MEMORY_TARGET_MB = 120


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="any of " + ", ".join(BENCHMARKS) + " (default: all)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes: checks that every benchmark still runs")
    parser.add_argument("--results", type=Path, default=report.RESULTS,
                        help="markdown file the tables are appended to")
    args = parser.parse_args(argv)
    # py-amqp warns of every confirm that crosses a channel's closing: noise here.
    logging.getLogger("amqp").setLevel(logging.ERROR)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from "
                     + ", ".join(BENCHMARKS))
    names = args.names or list(BENCHMARKS)
    # Stopped (Ctrl-C or SIGTERM): the finally below still removes the stack.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    stack = Stack()
    sections, failures = [], []
    began = time.monotonic()
    try:
        print(f"[bench] starting the services (vhost {stack.vhost})", flush=True)
        stack.start()
        idle = {name: stack.rss_mb(name) for name in SERVICES}
        peak = dict(idle)
        for name in names:
            print(f"[bench] {name} ...", flush=True)
            try:
                text, _ = BENCHMARKS[name].run(stack, args.smoke)
                sections.append(text)
            except Exception as error:  # report it and go on with the others
                failures.append(name)
                sections.append(f"### {name}\n\nFAILED: {type(error).__name__}: {error}\n")
                print(f"[bench] {name} failed: {error!r}", flush=True)
            for service in SERVICES:
                peak[service] = max(peak[service], stack.rss_mb(service))
        rows = [(service, idle[service], peak[service],
                 "yes" if peak[service] < MEMORY_TARGET_MB else "NO") for service in SERVICES]
        sections.append(report.table(
            "Memory (resident set of each service process)",
            ["service", "idle MB", "after the load MB", f"under {MEMORY_TARGET_MB} MB"], rows,
            ["'After the load': the largest reading taken after each benchmark."]))
    finally:
        stack.stop()
    report.append_results(sections, args.smoke, args.results)
    print(f"\n[bench] done in {time.monotonic() - began:.0f} s; tables appended to "
          f"{args.results}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
