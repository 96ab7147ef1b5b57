"""``python -m fraud_jobs.detector --config FILE``: what the FlinkDeployment runs (PythonDriver ``-pym``).

Reads the operator's ``detector.json`` (credentials only from the environment variables it names), builds
the job graph and executes it; a bad config exits with status 2 and a message naming the problem.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fraud_jobs.detector", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="detector config JSON (the operator's detector.json)")
    args = parser.parse_args(argv)
    from fraud_jobs.flink.settings import SettingsError, load_settings

    try:
        settings = load_settings(args.config)
        from fraud_jobs.flink.topology import build

        env = build(settings)
    except SettingsError as exc:  # an unusable config file is a failure (1); argparse's usage errors exit 2
        print(f"error: {exc}", file=sys.stderr)
        return 1
    env.execute(settings.job_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
