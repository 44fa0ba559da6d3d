"""Publishing on the Hugging Face Hub: model cards and the MODEL_CARDS/ catalogue of architecture cards."""

from .card import (
    render_catalogue,
    render_model_card,
    stale_catalogue_cards,
    validate_model_card,
    write_catalogue,
)
from .training_summary import TrainingSummary, read_training_summary

__all__ = [
    "TrainingSummary",
    "read_training_summary",
    "render_catalogue",
    "render_model_card",
    "stale_catalogue_cards",
    "validate_model_card",
    "write_catalogue",
]
