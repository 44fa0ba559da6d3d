"""Load an exported folder the way a Hub user without hf-vits does, and classify a photo with it.

`hf_vits.hub.export` runs this file's text in a fresh interpreter (`python -c SOURCE FOLDER PHOTO WORKDIR`), so
it imports nothing of hf_vits and makes hf_vits unimportable before anything else. It writes WORKDIR/logits.safetensors
(the logits of the photo through each image-processor backend) and WORKDIR/report.json (the classes that were
loaded, with their modules, and any hf_vits module that got imported).
"""

import sys

sys.modules["hf_vits"] = None  # any `import hf_vits` now raises ImportError

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageClassification  # noqa: E402


def describe(obj) -> dict:
    cls = obj if isinstance(obj, type) else type(obj)
    return {"name": cls.__name__, "module": cls.__module__}


def main(folder: str, photo_path: str, workdir: Path) -> None:
    with Image.open(photo_path) as photo:
        photo.load()
    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    model = AutoModelForImageClassification.from_pretrained(folder, trust_remote_code=True).eval()
    with torch.device("meta"):  # resolves the AutoModel entry of auto_map without allocating weights
        backbone = AutoModel.from_config(config, trust_remote_code=True)
    classes = {"config": describe(config), "classifier": describe(model), "backbone": describe(backbone)}
    logits = {}
    for backend in ("torchvision", "pil"):
        processor = AutoImageProcessor.from_pretrained(folder, trust_remote_code=True, backend=backend)
        classes[f"processor_{backend}"] = describe(processor)
        with torch.no_grad():
            logits[backend] = model(**processor(photo, return_tensors="pt")).logits.float().contiguous()
    save_file(logits, str(workdir / "logits.safetensors"))
    hf_vits_modules = sorted(name for name, module in sys.modules.items() if name.startswith("hf_vits") and module)
    report = {"classes": classes, "hf_vits_modules": hf_vits_modules}
    (workdir / "report.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
