#!/usr/bin/env python
"""LM training peak memory and step time, PrefixLM attention vs the dense prefix-LM mask (JSON lines).

    python scripts/bench_lm_attention.py --tokens 1024,4096,16384
"""

import sys

from genvid.bench.lm_attention import main

if __name__ == "__main__":
    sys.exit(main())
