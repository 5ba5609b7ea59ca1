"""``python -m bench``: the whole benchmark suite (see bench/run_all.py)."""
import sys

from .run_all import main

sys.exit(main())
