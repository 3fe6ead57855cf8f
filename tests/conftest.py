"""Shared by every suite: the worker's pure modules import as top-level names, like workerd loads them."""

import sys
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in worker/: wrangler would upload it as modules

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "worker"))
