#!/usr/bin/env python
"""Entry point: ``python run_benchmark.py --grid quick`` (see ``--help``)."""
import sys

from benchmark.cli import main

if __name__ == "__main__":
    sys.exit(main())
