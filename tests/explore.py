"""`make explore`: the exploration a maintainer runs before a release (docs/testing.md).

`make test` is deterministic: the same hypothesis examples and the same statistical seeds on every
machine, so it cannot find what those examples miss. This driver runs rounds of the hypothesis and
statistical tests (``-m "hypothesis or statistical"``) with fresh random examples (the ``explore``
hypothesis profile) and fresh seeds (``RCC_TEST_SEED``, a new random offset each round), until the
time budget is spent; a test that starts after the deadline is skipped. It prints every failure
with the command that replays it; each must become a fixed ``@example`` or test (hypothesis prints
the falsifying example) before the release.

    python tests/explore.py --minutes 30 [pytest arguments, e.g. tests/test_coders.py]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import subprocess
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("EXPLORE_MINUTES", 30)))
    args, pytest_args = parser.parse_known_args()
    if args.minutes <= 0:
        parser.error("--minutes must be positive")
    until = time.time() + 60 * args.minutes
    failed: list[str] = []
    rounds = 0
    cut_short = False
    while time.time() < until:
        rounds += 1
        seed = str(secrets.randbelow(2**31))
        env = dict(os.environ, HYPOTHESIS_PROFILE="explore", RCC_TEST_SEED=seed,
                   RCC_EXPLORE_UNTIL=str(until))
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   "-m", "hypothesis or statistical", *pytest_args]
        print(f"explore round {rounds}: RCC_TEST_SEED={seed}", flush=True)
        if subprocess.run(command, env=env).returncode not in (0, 5):  # 5: nothing collected
            failed.append(f"RCC_TEST_SEED={seed} HYPOTHESIS_PROFILE=explore "
                          f"{shlex.join(['python', *command[1:]])}")
        cut_short = time.time() > until  # the budget ran out inside this round: its later tests skipped
    complete = rounds - cut_short
    print(f"explore: {complete} complete round(s){' and one cut short' if cut_short else ''} in "
          f"{args.minutes:g} minutes, {len(failed)} failed")
    for line in failed:
        print(f"  replay (hypothesis examples differ; the failing one is printed above): {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
