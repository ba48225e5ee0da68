"""Command line: python -m matching families|ambassadors|validate|bench (spec/matching.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .config import ConfigError, default_time_limit
from .schema import CohortError, NoSolution, load_cohort

EXIT_OK, EXIT_VIOLATIONS, EXIT_INVALID, EXIT_NO_SOLUTION = 0, 1, 2, 3


class InputError(Exception):
    """A file could not be read as JSON."""


def _read_json(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc


def _write(result: dict, out: str | None) -> None:
    text = json.dumps(result, indent=2, ensure_ascii=False) + "\n"
    if out:
        Path(out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _progress(event: dict) -> None:
    parts = [f"{event.get('elapsed', 0):7.1f}s", event.get("phase", "")]
    if event.get("region"):
        parts.append(event["region"])
    if event.get("objective") is not None:
        parts.append(f"objective {event['objective']:.0f}")
    if event.get("bound") is not None:
        parts.append(f"bound {event['bound']:.0f}")
    print("  ".join(parts), file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m matching", description="Buddy families and ambassador pairs."
    )
    sub = p.add_subparsers(dest="command", required=True)
    fam = sub.add_parser("families", help="form buddy families")
    fam.add_argument("cohort")
    fam.add_argument("--time-limit", type=float, default=None)
    fam.add_argument("--seed", type=int, default=0)
    fam.add_argument("--workers", type=int, default=2)
    fam.add_argument("--out")
    amb = sub.add_parser("ambassadors", help="pair newcomers with ambassadors")
    amb.add_argument("cohort")
    amb.add_argument("--time-limit", type=float, default=None)
    amb.add_argument("--seed", type=int, default=0)
    amb.add_argument("--out")
    val = sub.add_parser("validate", help="check a result against the rules and print its metrics")
    val.add_argument("cohort")
    val.add_argument("result")
    bench = sub.add_parser("bench", help="solver against the greedy baseline on synthetic cohorts")
    bench.add_argument("--size", choices=("region", "national"), default="region")
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument("--time-limit", type=float, default=None)
    bench.add_argument("--workers", type=int, default=2)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; return the spec's exit status (1: validate found violations)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "bench":
            from .bench import run_bench

            run_bench(
                size=args.size, seed=args.seed, time_limit_s=args.time_limit, workers=args.workers
            )
            return EXIT_OK
        cohort = load_cohort(_read_json(args.cohort))
        if args.command == "families":
            from .solve import solve_families

            limit = args.time_limit if args.time_limit is not None else default_time_limit()
            result = solve_families(
                cohort, time_limit_s=limit, seed=args.seed, workers=args.workers, progress=_progress
            )
            _write(result, args.out)
            return EXIT_OK
        if args.command == "ambassadors":
            from .ambassadors import solve_ambassadors

            limit = args.time_limit if args.time_limit is not None else default_time_limit()
            result = solve_ambassadors(
                cohort, time_limit_s=limit, seed=args.seed, progress=_progress
            )
            _write(result, args.out)
            return EXIT_OK
        from .validate import metrics, validate

        result = _read_json(args.result)
        problems = validate(cohort, result)
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print(f"{len(problems)} rule violations", file=sys.stderr)
            return EXIT_VIOLATIONS
        _write({"valid": True, "metrics": metrics(cohort, result)}, None)
        return EXIT_OK
    except (CohortError, InputError, ConfigError) as exc:
        print(f"invalid cohort: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except NoSolution as exc:
        print(f"no solution: {exc}", file=sys.stderr)
        return EXIT_NO_SOLUTION


if __name__ == "__main__":
    sys.exit(main())
