#!/usr/bin/env python
"""DiT vs CogVideoXTransformer3DModel at equal size: forward / training step time and MFU (JSON lines).

    python scripts/bench_dit.py                              # GPU: CogVideoX-2B size, 13x60x90 latents, 226 text tokens
    python scripts/bench_dit.py --device cpu --preset small  # CPU: a small config
"""

import sys

from genvid.bench.dit import main

if __name__ == "__main__":
    sys.exit(main())
