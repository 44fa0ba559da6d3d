"""The one template every model card is rendered from: exported models and the MODEL_CARDS/ catalogue alike.

`hf_vits.hub.card` fills each `$field` with text computed from the registry, the model and its training run.
"""

from string import Template

MODEL_CARD_TEMPLATE = Template(
    """---
$front_matter
---

# $heading

$summary

## Model description

$description

$facts

## Variants

$variant_table

$figures_note

## How to use

$usage

## Training

$training

## Limitations

$limitations

## Citation

```bibtex
$citation
```
"""
)
