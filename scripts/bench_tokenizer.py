#!/usr/bin/env python
"""Tokenizer vs AutoencoderKLCogVideoX: encode/decode frames/s and peak memory (JSON lines).

    python scripts/bench_tokenizer.py --device cuda --dtype bfloat16
    python scripts/bench_tokenizer.py --device cpu --shapes 1x3x9x64x64
"""

import sys

from genvid.bench.tokenizer import main

if __name__ == "__main__":
    sys.exit(main())
