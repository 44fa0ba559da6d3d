"""Publishing on the Hugging Face Hub: export a complete, verified folder with its model card, push it, and resolve
a model given as a folder or a repo id; the MODEL_CARDS/ catalogue of architecture cards."""

from .card import (
    render_catalogue,
    render_model_card,
    stale_catalogue_cards,
    validate_model_card,
    write_catalogue,
)
from .download import check_repo_id, resolve_model
from .export import ExportCheckError, ExportResult, check_export, export_model
from .push import PushError, PushResult, push_folder
from .training_summary import TrainingSummary, read_training_summary

__all__ = [
    "ExportCheckError",
    "ExportResult",
    "PushError",
    "PushResult",
    "TrainingSummary",
    "check_export",
    "check_repo_id",
    "export_model",
    "push_folder",
    "read_training_summary",
    "render_catalogue",
    "render_model_card",
    "resolve_model",
    "stale_catalogue_cards",
    "validate_model_card",
    "write_catalogue",
]
