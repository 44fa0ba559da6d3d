"""Load a saved hf-vits folder the way a Hub user without hf-vits does: as remote code.

Run by the test battery in a fresh interpreter: `python remote_code_probe.py FOLDER WORKDIR PHOTO`. hf_vits is
made unimportable before anything else is imported. WORKDIR holds `expected.pt` (the input batch) and
receives `report.json` (what was loaded, as names) and `remote.pt` (what it computed); the test compares them
with the in-process results.
"""

import sys

sys.modules["hf_vits"] = None  # any `import hf_vits` now raises ImportError

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from transformers import (  # noqa: E402
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageClassification,
    pipeline,
)
from transformers.utils import logging  # noqa: E402


def describe(obj) -> dict:
    return {"name": type(obj).__name__, "module": type(obj).__module__}


def main(folder: str, workdir: Path, photo_path: str) -> None:
    logging.disable_progress_bar()
    torch.set_num_threads(1)  # the same reduction order as the test process
    try:
        import hf_vits  # noqa: F401

        import_error = False
    except ImportError:
        import_error = True

    expected = torch.load(workdir / "expected.pt", weights_only=True)
    pixel_values = expected["pixel_values"]
    with Image.open(photo_path) as photo:
        photo.load()

    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    classifier, loading_info = AutoModelForImageClassification.from_pretrained(
        folder, trust_remote_code=True, output_loading_info=True
    )
    backbone = AutoModel.from_pretrained(folder, trust_remote_code=True)
    processors = {
        backend: AutoImageProcessor.from_pretrained(folder, trust_remote_code=True, backend=backend)
        for backend in ("torchvision", "pil")
    }
    classify = pipeline("image-classification", model=folder, trust_remote_code=True)

    with torch.no_grad():
        remote = {
            "logits": classifier.eval()(pixel_values).logits,
            "last_hidden_state": backbone.eval()(pixel_values).last_hidden_state,
            "pipeline_logits": classify.model(pixel_values).logits,
        }
    for backend, processor in processors.items():
        remote[f"processed_{backend}"] = processor(photo, return_tensors="pt").pixel_values
    torch.save(remote, workdir / "remote.pt")

    report = {
        "hf_vits_import_error": import_error,
        "hf_vits_modules": sorted(n for n, m in sys.modules.items() if n.startswith("hf_vits") and m is not None),
        "classes": {
            "config": describe(config),
            "classifier": describe(classifier),
            "backbone": describe(backbone),
            "pipeline_model": describe(classify.model),
            "processor_torchvision": describe(processors["torchvision"]),
            "processor_pil": describe(processors["pil"]),
            "pipeline_processor": describe(classify.image_processor),
        },
        "state_dict_keys": {
            "classifier": sorted(classifier.state_dict()),
            "pipeline_model": sorted(classify.model.state_dict()),
        },
        "loading_info": {key: sorted(map(str, value)) for key, value in loading_info.items() if key != "error_msgs"},
        "pipeline": classify(photo, top_k=3),
    }
    (workdir / "report.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), sys.argv[3])
