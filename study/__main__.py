"""`python -m study ...` (see study/cli.py)."""
import sys

from study.cli import main

sys.exit(main())
