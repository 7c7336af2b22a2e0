"""``python -m diffc.cli``: the ``diffc`` console script."""

import sys

from diffc.cli import main

sys.exit(main())
