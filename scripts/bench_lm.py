#!/usr/bin/env python
"""VideoLanguageModel vs transformers' LlamaForCausalLM at equal size: decode tokens/s and training MFU (JSON lines).

    python scripts/bench_lm.py --device cuda --compile            # 537M preset, bf16
    python scripts/bench_lm.py --device cpu --preset small
"""

import sys

from genvid.bench.lm import main

if __name__ == "__main__":
    sys.exit(main())
