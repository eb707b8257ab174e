import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # compile_harness (importlib import mode)


@pytest.fixture(autouse=True)
def _float32_default():
    import chainrule as cr

    yield
    cr.set_default_dtype(np.float32)
