"""``python -m bench [--quick] [name ...]``: run benchmarks, save JSON, print the table."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback

from bench.benchmarks import ORDER
from bench.env import BenchEnv
from bench.harness import RESULTS, Result, save, table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {', '.join(ORDER)})")
    parser.add_argument("--quick", action="store_true", help="short runs and small data (a few minutes)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder and its PostgreSQL")
    args = parser.parse_args(argv)
    names = args.names or ORDER
    unknown = [n for n in names if n not in ORDER]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")

    env = BenchEnv(quick=args.quick, keep=args.keep)
    print(f"bench: temp folder {env.root}; {'quick' if args.quick else 'full'} mode", flush=True)
    results: list[Result] = []
    failed: list[str] = []
    env.start()
    try:
        for name in names:
            began = time.monotonic()
            print(f"bench: {name} …", flush=True)
            module = importlib.import_module(f"bench.benchmarks.{name}")
            try:
                result: Result = module.run(env)
            except Exception:
                traceback.print_exc()
                failed.append(name)
                continue
            save(result, quick=args.quick)
            results.append(result)
            print(
                f"bench: {name}: {result.ours:,.1f} {result.unit} / {result.baseline:,.1f} "
                f"= {result.ratio:.2f} ({time.monotonic() - began:.0f} s)",
                flush=True,
            )
    finally:
        env.stop()
    text = table(results)
    (RESULTS / ("table-quick.md" if args.quick else "table.md")).write_text(text + "\n")
    print()
    print(text)
    if failed:
        print(f"\nbench: crashed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
