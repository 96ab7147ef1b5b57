"""``python -m streamflow_cli``: the `streamflow` command without the console script."""

import sys

from streamflow_cli import main

sys.exit(main())
