"""The embedded default model: a small seeded CNN, so `mlfcheck export default` needs no file."""

from __future__ import annotations

from typing import Any

INPUT_SHAPE = (1, 1, 8, 8)
SEED = 2024


def default_model() -> dict[str, Any]:
    """The names a model file would define: `model`, `input_spec`, `output_names`.

    conv 3x3 (1→4 channels, padding 1) → ReLU → flatten → dense 256→10 → softmax, with weights
    drawn from a fixed seed.
    """
    import numpy as np
    from tvm.relax.frontend import nn

    class TinyCNN(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            self.conv = nn.Conv2D(1, 4, 3, padding=1, bias=True)
            self.dense = nn.Linear(4 * INPUT_SHAPE[2] * INPUT_SHAPE[3], 10)

        def forward(self, image: Any) -> Any:
            y = nn.relu(self.conv(image))
            y = nn.reshape(y, (1, -1))
            return nn.softmax(self.dense(y), axis=-1)

    model = TinyCNN()
    rng = np.random.default_rng(SEED)
    for _, param in sorted(model.named_parameters()):
        param.data = (rng.standard_normal(param.shape) * 0.3).astype(param.dtype)
    return {"model": model, "input_spec": {"image": (INPUT_SHAPE, "float32")},
            "output_names": ["probabilities"]}
