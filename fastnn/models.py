"""Models: the functional Model, Sequential, and Keras's model utilities (clone_model, model_from_json,
load_model, save_model)."""
import json

from .engine.model import Model
from .engine.sequential import Sequential
from .engine.serialization import clone_model, model_from_config
from .saving import load_model, save_model

__all__ = ["Model", "Sequential", "clone_model", "model_from_json", "model_from_config", "load_model", "save_model"]


def model_from_json(json_string):
    """The model (architecture only, fresh weights) that model.to_json() described."""
    try:
        data = json.loads(json_string)
    except (TypeError, ValueError) as e:
        raise ValueError(f"model_from_json: not valid JSON: {e}") from None
    return model_from_config(data)
