"""Shared test setup: offline, quiet, and the bundled photos every image test uses."""

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

# Nothing in the tests may touch the network; set before transformers and huggingface_hub are imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# datasets caches every imagefolder it reads; keep the tests' out of the user's cache.
if "HF_DATASETS_CACHE" not in os.environ:
    os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="hf-vits-tests-datasets-")
    atexit.register(shutil.rmtree, os.environ["HF_DATASETS_CACHE"], ignore_errors=True)

# `import battery` works whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from skimage import data as skimage_data  # noqa: E402
from transformers.utils import logging as transformers_logging  # noqa: E402

transformers_logging.disable_progress_bar()
# Small single-threaded matrix products are fastest for tiny models, and two xdist workers share the cores.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def chelsea() -> Image.Image:
    """A real RGB photo (a cat, 451x300), bundled with scikit-image."""
    return Image.fromarray(skimage_data.chelsea())


@pytest.fixture(scope="session")
def coffee() -> Image.Image:
    """A real RGB photo (a cup of coffee, 600x400), bundled with scikit-image."""
    return Image.fromarray(skimage_data.coffee())


@pytest.fixture(scope="session")
def photos(chelsea: Image.Image, coffee: Image.Image) -> dict[str, Image.Image]:
    return {"chelsea": chelsea, "coffee": coffee}
