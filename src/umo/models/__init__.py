"""The learned speech -> face + gesture model (UMo made real-time): config, model, streaming.

    from umo.models import UmoModel, get_config
    model = UmoModel(get_config("default")).eval()
    frames = model.generate(audio)                 # offline: {"face", "body", "hands"} (T, D)
    session = model.stream(seed=0)                 # live: push(pcm) / flush() / reset()
"""

from umo.models.config import PRESETS, ModelConfig, get_config, register
from umo.models.model import REGIONS, UmoModel
from umo.models.streaming import StreamingSession

__all__ = ["PRESETS", "REGIONS", "ModelConfig", "StreamingSession", "UmoModel", "get_config", "register"]
