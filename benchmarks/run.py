"""`python -m benchmarks.run --preset smoke|full`: the entry point of `make bench(-smoke)`.

The orchestration lives in `benchmarks.harness.run`; see `benchmarks/README.md`.
"""

from __future__ import annotations

import sys

from benchmarks.harness.run import main

if __name__ == "__main__":
    sys.exit(main())
