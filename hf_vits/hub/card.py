"""Model cards: one template filled from the registry (title, paper, variants and their figures), the modeling
modules' own descriptions, the model itself and its training run; validated with `huggingface_hub.ModelCard`."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from huggingface_hub.utils import HFValidationError, validate_repo_id
from transformers import PreTrainedModel
from transformers.image_processing_utils import BaseImageProcessor
from transformers.image_utils import PILImageResampling

from ..registry import ARCHITECTURES, Architecture
from .card_template import MODEL_CARD_TEMPLATE
from .training_summary import RESULT_LABELS, TrainingSummary

DEFAULT_LICENSE = "apache-2.0"
CATALOGUE_FOLDER = "MODEL_CARDS"
PIPELINE_TAG = "image-classification"
# How a card names a repository it does not know yet (the catalogue, or an export without --repo-id).
UNKNOWN_OWNER = "<owner>"
_SHOWN_LABELS = 10

CITATIONS = {
    "vit": """@inproceedings{dosovitskiy2021image,
  title     = {An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale},
  author    = {Alexey Dosovitskiy and Lucas Beyer and Alexander Kolesnikov and Dirk Weissenborn and Xiaohua Zhai and
               Thomas Unterthiner and Mostafa Dehghani and Matthias Minderer and Georg Heigold and Sylvain Gelly and
               Jakob Uszkoreit and Neil Houlsby},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year      = {2021},
  url       = {https://openreview.net/forum?id=YicbFdNTTy}
}""",
    "deit": """@inproceedings{touvron2021training,
  title     = {Training data-efficient image transformers \\& distillation through attention},
  author    = {Hugo Touvron and Matthieu Cord and Matthijs Douze and Francisco Massa and Alexandre Sablayrolles and
               Herv{\\'e} J{\\'e}gou},
  booktitle = {Proceedings of the 38th International Conference on Machine Learning (ICML)},
  series    = {Proceedings of Machine Learning Research},
  volume    = {139},
  pages     = {10347--10357},
  year      = {2021}
}""",
    "swin": """@inproceedings{liu2021swin,
  title     = {Swin Transformer: Hierarchical Vision Transformer using Shifted Windows},
  author    = {Ze Liu and Yutong Lin and Yue Cao and Han Hu and Yixuan Wei and Zheng Zhang and Stephen Lin and
               Baining Guo},
  booktitle = {Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)},
  pages     = {10012--10022},
  year      = {2021}
}""",
    "cvt": """@inproceedings{wu2021cvt,
  title     = {CvT: Introducing Convolutions to Vision Transformers},
  author    = {Haiping Wu and Bin Xiao and Noel Codella and Mengchen Liu and Xiyang Dai and Lu Yuan and Lei Zhang},
  booktitle = {Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)},
  pages     = {22--31},
  year      = {2021}
}""",
    "san": """@inproceedings{zhao2020exploring,
  title     = {Exploring Self-attention for Image Recognition},
  author    = {Hengshuang Zhao and Jiaya Jia and Vladlen Koltun},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages     = {10076--10085},
  year      = {2020}
}""",
    "sasa": """@inproceedings{ramachandran2019standalone,
  title     = {Stand-Alone Self-Attention in Vision Models},
  author    = {Prajit Ramachandran and Niki Parmar and Ashish Vaswani and Irwan Bello and Anselm Levskaya and
               Jonathon Shlens},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  volume    = {32},
  year      = {2019}
}""",
    "t2t_vit": """@inproceedings{yuan2021tokens,
  title     = {Tokens-to-Token ViT: Training Vision Transformers from Scratch on ImageNet},
  author    = {Li Yuan and Yunpeng Chen and Tao Wang and Weihao Yu and Yujun Shi and Zi-Hang Jiang and
               Francis E. H. Tay and Jiashi Feng and Shuicheng Yan},
  booktitle = {Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)},
  pages     = {558--567},
  year      = {2021}
}""",
    "levit": """@inproceedings{graham2021levit,
  title     = {LeViT: a Vision Transformer in ConvNet's Clothing for Faster Inference},
  author    = {Benjamin Graham and Alaaeldin El-Nouby and Hugo Touvron and Pierre Stock and Armand Joulin and
               Herv{\\'e} J{\\'e}gou and Matthijs Douze},
  booktitle = {Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)},
  pages     = {12259--12269},
  year      = {2021}
}""",
    "aanet": """@inproceedings{bello2019attention,
  title     = {Attention Augmented Convolutional Networks},
  author    = {Irwan Bello and Barret Zoph and Ashish Vaswani and Jonathon Shlens and Quoc V. Le},
  booktitle = {Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)},
  pages     = {3286--3295},
  year      = {2019}
}""",
    "nonlocal_net": """@inproceedings{wang2018nonlocal,
  title     = {Non-local Neural Networks},
  author    = {Xiaolong Wang and Ross Girshick and Abhinav Gupta and Kaiming He},
  booktitle = {Proceedings of the IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages     = {7794--7803},
  year      = {2018}
}""",
    "ccnet": """@inproceedings{huang2019ccnet,
  title     = {CCNet: Criss-Cross Attention for Semantic Segmentation},
  author    = {Zilong Huang and Xinggang Wang and Lichao Huang and Chang Huang and Yunchao Wei and Wenyu Liu},
  booktitle = {Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)},
  pages     = {603--612},
  year      = {2019}
}""",
    "lrnet": """@inproceedings{hu2019local,
  title     = {Local Relation Networks for Image Recognition},
  author    = {Han Hu and Zheng Zhang and Zhenda Xie and Stephen Lin},
  booktitle = {Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)},
  pages     = {3464--3473},
  year      = {2019}
}""",
}


def render_model_card(
    architecture: str,
    *,
    model: PreTrainedModel | None = None,
    processor: BaseImageProcessor | None = None,
    training: TrainingSummary | None = None,
    model_name: str | None = None,
    repo_id: str | None = None,
    license: str = DEFAULT_LICENSE,
) -> str:
    """The README.md of a model of `architecture` (with its training run, when there is one), or, without a model,
    the architecture's catalogue card. The result is validated with `huggingface_hub.ModelCard`."""
    arch = _architecture(architecture)
    if arch.name not in CITATIONS:
        raise KeyError(f"No BibTeX for architecture {arch.name!r}: add it to CITATIONS in {__name__}.")
    name = model_name or (repo_id.split("/")[-1] if repo_id else arch.title)
    model_id = repo_id or f"{UNKNOWN_OWNER}/{model_name or list(arch.variants)[0]}"
    variant = _variant_of(arch, model) if model is not None else None
    text = MODEL_CARD_TEMPLATE.substitute(
        front_matter=_front_matter(arch, name, training, license),
        heading=name,
        summary=_summary(arch, model, training),
        description=_module_description(arch.model_class),
        facts=_facts(arch, model, processor, variant),
        variant_table=_variant_table(arch, variant),
        figures_note=_module_description(_variants_module(arch), skip_first_paragraph=False),
        usage=_usage(arch, model_id, catalogue=model is None),
        training=_training(training, catalogue=model is None),
        limitations=_limitations(model, training, arch),
        citation=CITATIONS[arch.name],
    )
    validate_model_card(text)
    return text


def validate_model_card(text: str) -> ModelCard:
    """Parse a card with `huggingface_hub.ModelCard` and check the metadata the Hub reads: library, pipeline tag,
    license, tags, and a `model-index` that parses into evaluation results when there is one."""
    card = ModelCard(text, ignore_metadata_errors=False)
    data = card.data
    problems = []
    if data.library_name != "transformers":
        problems.append(f"library_name is {data.library_name!r}, not 'transformers'")
    if data.pipeline_tag != PIPELINE_TAG:
        problems.append(f"pipeline_tag is {data.pipeline_tag!r}, not {PIPELINE_TAG!r}")
    for key in ("license", "tags"):
        if not getattr(data, key, None):
            problems.append(f"no {key}")
    if "model-index" in data.to_dict() and not data.eval_results:
        problems.append("model-index holds no evaluation results")
    if problems:
        raise ValueError(f"Invalid model card metadata: {'; '.join(problems)}.")
    return card


def render_catalogue() -> dict[str, str]:
    """The catalogue: file name (`<architecture>.md`) to card, for every architecture of the registry."""
    return {f"{name}.md": render_model_card(name) for name in ARCHITECTURES}


def write_catalogue(folder: str | Path = CATALOGUE_FOLDER) -> list[Path]:
    """Write every architecture's card into `folder` (removing cards of architectures no longer registered)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cards = render_catalogue()
    for stale in folder.glob("*.md"):
        if stale.name not in cards:
            stale.unlink()
    written = []
    for file_name, text in cards.items():
        path = folder / file_name
        path.write_text(text)
        written.append(path)
    return written


def stale_catalogue_cards(folder: str | Path = CATALOGUE_FOLDER) -> list[str]:
    """The cards of `folder` that are missing, differ from what the renderer produces, or have no architecture."""
    folder = Path(folder)
    cards = render_catalogue()
    on_disk = {path.name: path.read_text() for path in folder.glob("*.md")} if folder.is_dir() else {}
    missing = [f"{name} (missing)" for name in cards if name not in on_disk]
    differ = [f"{name} (out of date)" for name, text in cards.items() if name in on_disk and on_disk[name] != text]
    extra = [f"{name} (no such architecture)" for name in on_disk if name not in cards]
    return sorted(missing + differ + extra)


def architecture_for_model_type(model_type: str | None) -> Architecture | None:
    """The zoo's architecture whose `model_type` is `model_type` (e.g. `hfvits_deit`), or None."""
    return next((arch for arch in ARCHITECTURES.values() if arch.model_type == model_type), None)


def _architecture(name: str) -> Architecture:
    if name not in ARCHITECTURES:
        raise KeyError(f"Unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}.")
    return ARCHITECTURES[name]


def _variants_module(arch: Architecture):
    package = arch.config_class.__module__.rsplit(".", 1)[0]
    return importlib.import_module(f"{package}.variants")


def _module_description(obj, skip_first_paragraph: bool = True) -> str:
    """The prose of the docstring of `obj`'s module (its first paragraph, the title and reference, left out)."""
    module = obj if inspect.ismodule(obj) else importlib.import_module(obj.__module__)
    paragraphs = inspect.cleandoc(module.__doc__ or "").split("\n\n")
    return "\n\n".join(paragraphs[1:] if skip_first_paragraph else paragraphs).strip()


def _variant_of(arch: Architecture, model: PreTrainedModel) -> str | None:
    """The paper variant whose configuration the model has, if any."""
    config = model.config
    for name, spec in arch.variants.items():
        if all(_comparable(getattr(config, key, None)) == _comparable(value) for key, value in spec["config"].items()):
            return name
    return None


def _comparable(value):
    """Sizes given as an int or as an equal pair compare equal."""
    if isinstance(value, (list, tuple)):
        return value[0] if len(set(value)) == 1 else tuple(value)
    return value


def _hub_dataset(dataset: str) -> str | None:
    """`dataset` when it names a Hub dataset; None for the bundled digits, image folders and local folders."""
    if dataset == "digits" or dataset.startswith("imagefolder:") or Path(dataset).exists():
        return None
    try:
        validate_repo_id(dataset)
    except HFValidationError:
        return None
    return dataset


def _dataset_name(dataset: str) -> str:
    if dataset == "digits":
        return "scikit-learn's handwritten digits (8x8, upsampled)"
    if dataset.startswith("imagefolder:"):
        return f"image folder `{Path(dataset.split(':', 1)[1]).name}`"
    if _hub_dataset(dataset) is None:
        return f"local dataset `{Path(dataset).name}`"
    return f"[{dataset}](https://huggingface.co/datasets/{dataset})"


def _front_matter(arch: Architecture, name: str, training: TrainingSummary | None, license: str) -> str:
    dataset_id = _hub_dataset(training.dataset) if training else None
    eval_results = _eval_results(training) if training else []
    data = ModelCardData(
        library_name="transformers",
        pipeline_tag=PIPELINE_TAG,
        license=license,
        tags=["vision", PIPELINE_TAG, "hf-vits", arch.model_type],
        datasets=[dataset_id] if dataset_id else None,
        metrics=["accuracy"],
        model_name=name if eval_results else None,
        eval_results=eval_results or None,
    )
    return data.to_yaml()


def _eval_results(training: TrainingSummary) -> list[EvalResult]:
    """The run's own top-1 / top-5 accuracy, as model-index entries."""
    dataset_type = _hub_dataset(training.dataset) or training.dataset.split(":", 1)[0]
    metrics = [("eval_top1", "accuracy", "Top-1 accuracy (%)"), ("eval_top5", "top_5_accuracy", "Top-5 accuracy (%)")]
    return [
        EvalResult(
            task_type=PIPELINE_TAG,
            task_name="Image Classification",
            dataset_type=dataset_type,
            dataset_name=training.dataset if _hub_dataset(training.dataset) else _dataset_name(training.dataset),
            dataset_split=training.eval_split,
            metric_type=metric_type,
            metric_name=metric_name,
            metric_value=round(training.results[key], 2),
        )
        for key, metric_type, metric_name in metrics
        if key in training.results
    ]


def _summary(arch: Architecture, model: PreTrainedModel | None, training: TrainingSummary | None) -> str:
    if model is None:
        return (
            f"The {arch.title} of {arch.paper}, as a `transformers` model of hf-vits: "
            f"`{arch.config_class.__name__}`, `{arch.model_class.__name__}`, "
            f"`{arch.classification_class.__name__}` and an image processor with a torchvision and a PIL backend, "
            f"registered with the Auto classes under `model_type` `{arch.model_type}`. This card describes the "
            "architecture and the paper's variants; a published model's card adds its weights, data and results."
            + _segmentation_summary(arch)
        )
    trained = f", trained on {_dataset_name(training.dataset)}" if training else ""
    return (
        f"An image classifier with the {arch.title} architecture ({arch.paper}){trained}, saved as a `transformers` "
        f"model by hf-vits. It loads with `transformers`' Auto classes and `pipeline`, with hf-vits installed or "
        "without it (`trust_remote_code=True`)."
    )


def _facts(
    arch: Architecture, model: PreTrainedModel | None, processor: BaseImageProcessor | None, variant: str | None
) -> str:
    paper = f"- **Paper:** {arch.paper}"
    classes = (
        f"- **Python classes:** `{arch.config_class.__name__}`, `{arch.model_class.__name__}`, "
        f"`{arch.classification_class.__name__}`, "
        + (f"`{arch.segmentation_class.__name__}`, " if arch.segmentation_class is not None else "")
        + ", ".join(f"`{cls.__name__}` ({backend})" for backend, cls in arch.processor_classes.items())
    )
    if model is None:
        return "\n".join([paper, classes])
    config = model.config
    if variant is not None:
        configuration = f"the paper's variant `{variant}`"
    else:
        keys = dict.fromkeys(key for spec in arch.variants.values() for key in spec["config"])
        configuration = "a custom configuration: " + ", ".join(f"`{key}={getattr(config, key, None)}`" for key in keys)
    labels = [config.id2label[index] for index in sorted(config.id2label)]
    shown = ", ".join(str(label) for label in labels[:_SHOWN_LABELS])
    more = f", ... ({len(labels) - _SHOWN_LABELS} more)" if len(labels) > _SHOWN_LABELS else ""
    lines = [
        paper,
        classes,
        f"- **Configuration:** {configuration}",
        f"- **Parameters:** {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M",
        f"- **Labels ({len(labels)}):** {shown}{more}",
    ]
    if processor is not None:
        lines.append(f"- **Preprocessing:** {_preprocessing(processor)}")
    return "\n".join(lines)


def _preprocessing(processor: BaseImageProcessor) -> str:
    """The evaluation transform of `processor`, in words."""
    settings = processor.to_dict()
    steps = []
    size, resample = settings.get("size") or {}, settings.get("resample")
    interpolation = f" ({PILImageResampling(resample).name.lower()})" if resample is not None else ""
    if settings.get("do_resize") and "shortest_edge" in size:
        steps.append(f"resize the shorter side to {size['shortest_edge']}{interpolation}")
    elif settings.get("do_resize"):
        steps.append(f"resize to {size.get('height')}x{size.get('width')}{interpolation}")
    crop = settings.get("crop_size") or {}
    if settings.get("do_center_crop") and crop:
        steps.append(f"center-crop {crop.get('height')}x{crop.get('width')}")
    if settings.get("do_normalize"):
        mean = ", ".join(f"{value:.3f}" for value in settings["image_mean"])
        std = ", ".join(f"{value:.3f}" for value in settings["image_std"])
        steps.append(f"normalise with mean ({mean}) and std ({std})")
    return "; ".join(steps) + " (`preprocessor_config.json`, the same with either backend)."


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def _variant_table(arch: Architecture, current: str | None) -> str:
    rows = [
        "| variant | params (M) | GFLOPs | ImageNet-1k top-1 (%) | resolution | source of the figures |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, spec in arch.variants.items():
        paper = spec["paper"]
        label = f"**`{name}`** (this model)" if name == current else f"`{name}`"
        figures = [_figure(paper["params_m"]), _figure(paper["gflops"]), _figure(paper["top1"])]
        rows.append(f"| {label} | {' | '.join(figures)} | {paper['resolution']} | {paper['source']} |")
    return "\n".join(rows)


def _code_files(arch: Architecture) -> str:
    modules = (arch.config_class, arch.model_class, arch.processor_classes["torchvision"])
    return ", ".join(f"`{cls.__module__.rsplit('.', 1)[-1]}.py`" for cls in modules)


def _segmentation_summary(arch: Architecture) -> str:
    if arch.segmentation_class is None:
        return ""
    return (
        f" `{arch.segmentation_class.__name__}` is its semantic segmenter, registered with "
        '`AutoModelForSemanticSegmentation` and served by `pipeline("image-segmentation")`.'
    )


def _segmentation_usage(arch: Architecture, model_id: str) -> str:
    """How to use the segmenter of an architecture that has one."""
    variant = next(
        (name for name, spec in arch.variants.items() if spec.get("task") == "semantic-segmentation"),
        list(arch.variants)[0],
    )
    return (
        f'The semantic segmenter (`{arch.segmentation_class.__name__}`, `hf_vits.create_model("{variant}")`) '
        "returns logits at the resolution of its last feature map; its image processor upsamples them to the image "
        "and picks the class of each pixel, and the segmentation pipeline returns one mask per class present:\n\n"
        "```python\n"
        "from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation, pipeline\n\n"
        f'model = AutoModelForSemanticSegmentation.from_pretrained("{model_id}", trust_remote_code=True)\n'
        f'processor = AutoImageProcessor.from_pretrained("{model_id}", trust_remote_code=True)\n'
        'outputs = model(**processor(image, return_tensors="pt"))\n'
        "classes = processor.post_process_semantic_segmentation(outputs, target_sizes=[image.size[::-1]])[0]\n"
        f'segmenter = pipeline("image-segmentation", model="{model_id}", trust_remote_code=True)\n'
        'masks = segmenter("street.jpg")  # [{"label": ..., "mask": PIL image, "score": None}, ...]\n'
        "```"
    )


def _usage(arch: Architecture, model_id: str, catalogue: bool) -> str:
    sections = []
    if catalogue:
        variant = list(arch.variants)[0]
        sections.append(
            "Build a model of a named variant (see the table), train or convert it, then export and publish it:\n\n"
            "```python\n"
            "import hf_vits\n\n"
            f'model = hf_vits.create_model("{variant}", num_labels=10)\n'
            f'processor = hf_vits.create_image_processor("{variant}")\n'
            "```\n\n"
            "```\n"
            f"hf-vits export out/run --to out/hub-ready --repo-id {model_id}\n"
            f"hf-vits push out/hub-ready --repo-id {model_id}\n"
            "```\n\n"
            "A published model loads like any other:"
        )
    sections.append(
        "With hf-vits installed (`import hf_vits` registers its architectures with the Auto classes):\n\n"
        "```python\n"
        "import hf_vits  # noqa: F401\n"
        "from transformers import AutoImageProcessor, AutoModelForImageClassification\n\n"
        f'processor = AutoImageProcessor.from_pretrained("{model_id}")  # backend="pil" for the PIL backend\n'
        f'model = AutoModelForImageClassification.from_pretrained("{model_id}")\n'
        'logits = model(**processor(image, return_tensors="pt")).logits\n'
        "print(model.config.id2label[logits.argmax(-1).item()])\n"
        "```"
    )
    sections.append(
        "Without hf-vits, the repository's own code loads the model: `trust_remote_code=True` runs "
        f"{_code_files(arch)} from the repository, so read them first.\n\n"
        "```python\n"
        "from transformers import AutoModelForImageClassification, pipeline\n\n"
        f'model = AutoModelForImageClassification.from_pretrained("{model_id}", trust_remote_code=True)\n'
        f'classifier = pipeline("image-classification", model="{model_id}", trust_remote_code=True)\n'
        'classifier("cat.jpg", top_k=5)\n'
        "```"
    )
    if arch.segmentation_class is not None:
        sections.append(_segmentation_usage(arch, model_id))
    return "\n\n".join(sections)


def _value(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple, dict)):
        return f"`{json.dumps(value)}`"
    return f"`{value}`" if isinstance(value, str) else str(value)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def _training(training: TrainingSummary | None, catalogue: bool) -> str:
    if catalogue:
        return (
            "This card describes the architecture; the figures above are the paper's. A model trained with "
            "`hf-vits train` and exported with `hf-vits export` gets its own card with the dataset, recipe, "
            "hyper-parameters, hardware, time, curves and results of its run."
        )
    if training is None:
        return (
            "No training run is recorded with these weights (`hf-vits export` found no `metrics.json` beside them, "
            "as for weights converted from a paper's release with `hf-vits convert`)."
        )
    data = f"- **Dataset:** {_dataset_name(training.dataset)}"
    if training.train_images is not None:
        data += f", {training.train_images} training images"
    if training.eval_split is not None:
        count = f" ({training.eval_images} images)" if training.eval_images is not None else ""
        data += f"; evaluated on the `{training.eval_split}` split{count}"
    lines = [data]
    if training.variant:
        lines.append(f"- **Starting configuration:** `{training.variant}`")
    if training.epochs is not None:
        lines.append(f"- **Epochs:** {training.epochs}")
    if training.hardware:
        lines.append(f"- **Hardware:** {training.hardware}")
    if training.train_seconds is not None:
        lines.append(f"- **Training time:** {_duration(training.train_seconds)}")
    parts = ["\n".join(lines)]
    if training.hyperparameters:
        table = ["| hyper-parameter | value |", "| --- | --- |"]
        table += [f"| `{key}` | {_value(value)} |" for key, value in training.hyperparameters.items()]
        parts.append("### Recipe\n\n" + "\n".join(table))
    if training.results:
        table = ["| metric | value |", "| --- | ---: |"]
        table += [f"| {RESULT_LABELS[key]} | {value:.4g} |" for key, value in training.results.items()]
        parts.append("### Results\n\nAt the end of training, on the evaluation split:\n\n" + "\n".join(table))
    if training.plots:
        images = [f"![{Path(plot).stem.replace('_', ' ')}]({plot})" for plot in training.plots]
        parts.append("### Curves\n\n" + "\n\n".join(images))
    return "\n\n".join(parts)


def _limitations(model: PreTrainedModel | None, training: TrainingSummary | None, arch: Architecture) -> str:
    points = [
        "The variant table's parameters, FLOPs and top-1 are the papers' figures for 1000-class ImageNet models, "
        "as their authors report them (see the source column); hf-vits does not re-measure them.",
    ]
    if any(spec.get("task") == "semantic-segmentation" for spec in arch.variants.values()):
        points[0] = (
            "The variant table's figures are the papers' (see the source column and the note under the table); a "
            "segmentation variant's are for its dataset's classes, not ImageNet's, and hf-vits does not re-measure "
            "them."
        )
    if training is not None:
        classes = len(model.config.id2label) if model is not None else None
        points.append(
            f"This model was trained on {_dataset_name(training.dataset)} only and knows its {classes} classes: "
            "expect confident mistakes on images unlike its training data. Its results above come from one "
            "evaluation split and do not compare with the ImageNet figures of the table."
        )
    elif model is not None:
        points.append("No training run is recorded with these weights, so this card reports no results of its own.")
    points += [
        "Predictions depend on the preprocessing: use the repository's image processor (either backend); another "
        "resize, crop or normalisation changes the outputs.",
        "The model inherits the biases and blind spots of the data it was trained on.",
        "`trust_remote_code=True` executes the repository's Python files on your machine.",
    ]
    return "\n".join(f"- {point}" for point in points)
