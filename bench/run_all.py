"""Run every benchmark in turn: ingest, retrieval, end to end.

    .venv/bin/python -m bench.run_all [--quick]

`--quick` uses smaller sizes (retrieval up to 10k chunks, 2 questions, no baseline) for a smoke run.
"""

from __future__ import annotations

import argparse

from bench import answer, ingest, retrieval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, no baseline")
    args = parser.parse_args()
    ingest.run(copies=2 if args.quick else 8)
    print()
    retrieval.run([1000, 10000] if args.quick else [1000, 10000, 100000])
    print()
    answer.run(2 if args.quick else 5, with_baseline=not args.quick, sweep_sizes="4,10" if args.quick else "4,6,8,10")


if __name__ == "__main__":
    main()
