"""Report blocks of an image-text pretraining run: retrieval recall on the validation pairs
(image -> text and text -> image, @1 and @5) per epoch and at the kept epoch, and the zero-shot
confusion of the validation images against their classes' descriptions, when the pairs come
from classes."""

from __future__ import annotations

from transferkit.report.canvas import COLORS, figure, png
from transferkit.report.common import pct
from transferkit.report.document import Image, Table
from transferkit.report.fit_plots import _epoch_axis, _series, confusion_matrix
from transferkit.report.pretrain import PRETRAIN_BLOCKS, history_of
from transferkit.store import RunRecord

RECALLS = (
    ("val_i2t_r1", "image -> text @1"),
    ("val_i2t_r5", "image -> text @5"),
    ("val_t2i_r1", "text -> image @1"),
    ("val_t2i_r5", "text -> image @5"),
)


def retrieval_curves(history: list[dict]) -> bytes:
    """Retrieval recall on the validation pairs per epoch."""
    fig = figure(6, 3.4)
    ax = fig.subplots()
    for i, (key, name) in enumerate(RECALLS):
        xs, ys = _series(history, key)
        if xs:
            style = "-" if key.endswith("r1") else "--"
            color = COLORS[i // 2 % len(COLORS)]
            ax.plot(xs, [100 * y for y in ys], style, marker="o", ms=4, color=color, label=name)
    _epoch_axis(ax, history, "recall on validation pairs (%)")
    fig.suptitle("Image-text retrieval", fontsize=11)
    return png(fig)


@PRETRAIN_BLOCKS.register("image-text")
def image_text_blocks(r: RunRecord) -> tuple[list, list[str]]:
    history = history_of(r)
    best = r.extra.get("retrieval") or {}
    blocks: list = []
    if best:
        rows = [[name, pct(best.get(key), 1)] for key, name in RECALLS]
        if best.get("val_zeroshot_accuracy") is not None:
            rows.append(["zero-shot accuracy", pct(best.get("val_zeroshot_accuracy"), 1)])
        blocks.append(Table(["on the validation pairs", "%"], rows, caption="The kept weights"))
    if any(RECALLS[0][0] in h for h in history):
        blocks.append(
            Image(
                f"{r.id}-retrieval",
                retrieval_curves(history),
                alt="image-to-text and text-to-image recall at 1 and 5 per epoch",
                caption="Retrieval recall on the validation pairs per epoch",
            )
        )
    conf = r.extra.get("zeroshot_confusion") or {}
    if conf.get("matrix") and conf.get("classes"):
        blocks.append(
            Image(
                f"{r.id}-zeroshot-confusion",
                confusion_matrix(conf["matrix"], conf["classes"], "zero-shot, validation images"),
                alt="zero-shot confusion matrix of the validation images",
                caption="Zero-shot on the validation images: each image against every class's "
                "descriptions (rows: true class)",
            )
        )
    verdicts = []
    if best:
        verdicts.append(
            f"Image-text pretraining {r.id}: image -> text recall@1 "
            f"{pct(best.get('val_i2t_r1'), 1)}%, text -> image {pct(best.get('val_t2i_r1'), 1)}% "
            "on the validation pairs."
        )
    return blocks, verdicts
