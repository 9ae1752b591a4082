#!/usr/bin/env python
"""Equal wall-clock training budget: genvid's tokenizer vs AutoencoderKLCogVideoX, held-out PSNR/SSIM (JSON lines).

    python scripts/bench_tokenizer_budget.py --device cuda --budget-seconds 600          # 17x128x128, base sizes
    OMP_NUM_THREADS=1 python scripts/bench_tokenizer_budget.py --device cpu --budget-seconds 180 \
        --num-frames 9 --crop 64 --batch-size 2 --size tiny
"""

import sys

from genvid.bench.tokenizer_budget import main

if __name__ == "__main__":
    sys.exit(main())
