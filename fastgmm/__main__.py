"""``python -m fastgmm``: the same command line as the ``fastgmm`` script."""

from .cli import main

raise SystemExit(main())
