"""``python -m diffc.cli``: the ``diffc`` console script."""

import sys

from diffc.cli import main

if __name__ == "__main__":
    sys.exit(main())
