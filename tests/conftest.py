import os
import sys
from pathlib import Path

# Nothing in the tests may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# tests/ holds a tiny task used to exercise the training loop (importable as fixture_tasks).
sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402

# The test models are tiny: one thread avoids oversubscription on small CI machines, where two
# threads made them many times slower.
torch.set_num_threads(1)

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Every module starts on one thread again, whatever an in-process bench before it set."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
