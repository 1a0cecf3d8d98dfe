"""`make bench`: every benchmark in turn, each in its own process and its own fresh
PostgreSQL database (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres).
Prints each one's figures; exits non-zero if any benchmark failed or missed a hard limit.

    .venv/bin/python benchmarks/run_all.py [name …]   # e.g. roster engine
"""

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["engine", "roster", "encounters", "settlement", "review", "dashboards", "load", "window"]


def main():
    wanted = sys.argv[1:] or BENCHMARKS
    failed = []
    for name in wanted:
        script = HERE / f"bench_{name}.py"
        print(f"\n=== {name} ({script.name}) ===", flush=True)
        start = time.monotonic()
        code = subprocess.call([sys.executable, str(script)], cwd=HERE.parent)
        print(f"--- {name}: exit {code}, {time.monotonic() - start:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
