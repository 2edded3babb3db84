"""``Predictor``: an exported model folder that predicts with onnxruntime, without PyTorch.

    from transferkit.runtime import Predictor
    p = Predictor("exported/")              # config.json + model.onnx (+ tokenizer/ for text)
    p.classes, p.modality
    p.predict_proba(["a.jpg", "b.png"])     # (2, K) probabilities, classes in p.classes order
    p.predict(["a.jpg"])                    # [{"item", "prediction", "confidence", "p_<class>"...}]

Images are preprocessed exactly as the run evaluated them (:mod:`transferkit.runtime.images`),
texts tokenised as it did (:mod:`transferkit.runtime.texts`). An ensemble exported as members
(``members/<i>/``) predicts the weighted average of its members' probabilities, each member
reading the inputs with its own preprocessing, as ``predict --run`` does for an ensemble run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from transferkit.errors import UserError
from transferkit.runtime.folder import member_folders, read_config
from transferkit.runtime.images import ImagePreprocessing, as_image
from transferkit.runtime.texts import TextEncoder, as_text


class _Session:
    """One exported graph and the preprocessing of its inputs."""

    def __init__(self, folder: Path, config: dict[str, Any], threads: int | None) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or 0)  # 0: onnxruntime's default (all cores)
        options.inter_op_num_threads = 1
        path = folder / str(config["model_file"])
        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise UserError(
                f"onnxruntime {ort.__version__} cannot load {path} ({type(e).__name__}: "
                f"{' '.join(str(e).split())[:300]}). Export again with an opset this onnxruntime "
                "runs (`--opset`), or upgrade onnxruntime."
            ) from None
        self.inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        wanted = str(config.get("output") or "probabilities")
        self.output = wanted if wanted in outputs else outputs[0]
        prep = config.get("preprocessing") or {}
        self.modality = config["modality"]
        if self.modality == "image":
            self.prepare = ImagePreprocessing(prep)
        else:
            self.prepare = TextEncoder(folder, prep)

    def run(self, batch: list[Any]) -> np.ndarray:
        """Probabilities (n, K) for a batch of decoded images or strings."""
        if self.modality == "image":
            feeds = {self.inputs[0]: self.prepare(batch)}
        else:
            encoded = self.prepare(batch)
            feeds = {name: encoded[name] for name in self.inputs if name in encoded}
            missing = [n for n in self.inputs if n not in encoded]
            if missing:
                raise UserError(f"The exported text graph takes unknown inputs {missing}.")
        (probs,) = self.session.run([self.output], feeds)
        return np.asarray(probs, dtype=np.float32)


class Predictor:
    """An export folder loaded for prediction (see the module docstring).

    ``threads`` bounds onnxruntime's threads per graph (intra-op; None: all cores)."""

    def __init__(self, folder: str | Path, threads: int | None = None) -> None:
        self.folder = Path(folder)
        self.threads = threads
        self.config = read_config(self.folder)
        self.classes: list[str] = [str(c) for c in self.config["classes"]]
        self.modality: str = self.config["modality"]
        self.members: list[tuple[_Session, float]] = []
        if self.config.get("members"):
            for sub, weight in member_folders(self.config, self.folder):
                member = read_config(sub)
                if [str(c) for c in member["classes"]] != self.classes:
                    raise UserError(
                        f"The member {sub} of {self.folder} predicts other classes than the "
                        "ensemble. The folder is inconsistent: export the run again."
                    )
                if member["modality"] != self.modality:
                    raise UserError(f"The member {sub} is not a {self.modality} model.")
                self.members.append((_Session(sub, member, threads), weight))
        else:
            self.members.append((_Session(self.folder, self.config, threads), 1.0))

    def __repr__(self) -> str:
        return (
            f"Predictor({str(self.folder)!r}, {self.modality}, {len(self.classes)} classes, "
            f"{len(self.members)} graph(s))"
        )

    def _items(self, inputs: Any) -> list[Any]:
        """``inputs`` as a list of single inputs (one path, image or string is a list of one;
        a 4-d array, or a 3-d one whose last axis is not 1, 3 or 4, is a batch of images)."""
        if isinstance(inputs, (str, Path)) or hasattr(inputs, "getpixel"):
            return [inputs]
        if isinstance(inputs, np.ndarray):
            if inputs.ndim == 4 or (inputs.ndim == 3 and inputs.shape[2] not in (1, 3, 4)):
                return list(inputs)
            return [inputs]
        if not isinstance(inputs, Sequence):
            raise UserError(
                f"Inputs of type {type(inputs).__name__} cannot be predicted: give a list of "
                "file paths, PIL images or arrays (images), or of strings (texts)."
            )
        return list(inputs)

    def _decoded(self, chunk: list[Any], start: int) -> list[Any]:
        if self.modality == "text":
            return [as_text(x, start + k) for k, x in enumerate(chunk)]
        return [as_image(x, start + k) for k, x in enumerate(chunk)]

    def predict_proba(self, inputs: Any, batch_size: int = 32) -> np.ndarray:
        """Probabilities (n, K), columns in :attr:`classes` order; ``batch_size`` inputs are
        decoded and run at a time."""
        items = self._items(inputs)
        if batch_size < 1:
            raise UserError(f"batch_size must be at least 1, not {batch_size}.")
        out = np.zeros((len(items), len(self.classes)), dtype=np.float32)
        for start in range(0, len(items), batch_size):
            batch = self._decoded(items[start : start + batch_size], start)
            probs = sum(w * session.run(batch) for session, w in self.members)
            out[start : start + len(batch)] = probs
        return out

    def predict(
        self, inputs: Any, batch_size: int = 32, items: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """One dict per input, as ``transferkit predict`` writes its CSV: ``item`` (the path,
        or ``items[i]``, or the index), ``prediction``, ``confidence``, ``p_<class>``."""
        inputs = self._items(inputs)
        if items is None:
            items = [str(x) if isinstance(x, (str, Path)) else str(i) for i, x in enumerate(inputs)]
            if self.modality == "text":
                items = [str(i) for i in range(len(inputs))]
        rows = []
        for name, p in zip(items, self.predict_proba(inputs, batch_size), strict=True):
            row = {
                "item": name,
                "prediction": self.classes[int(p.argmax())],
                "confidence": float(p.max()),
            }
            row.update({f"p_{c}": float(v) for c, v in zip(self.classes, p)})
            rows.append(row)
        return rows
