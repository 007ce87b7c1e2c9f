import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# Tests are small; more threads than cores only adds contention on a shared machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than ~10 s (CI still runs it)")
    config.addinivalue_line("markers", "browser: needs Chromium (Playwright)")


@pytest.fixture(autouse=True)
def _threads():
    import torch
    torch.set_num_threads(1)
    yield
