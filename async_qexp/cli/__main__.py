"""``python -m async_qexp.cli``: the same as the ``qexp`` console script."""

import sys

from .main import main

sys.exit(main())
