"""explain on a domain adaptation run: the adapted model (backbone and head together) on target
images, and what adaptation changed in the source backbone."""

from __future__ import annotations

import pytest
from adapt_data import write_domains

import transferkit
from transferkit.store import RunStore


@pytest.mark.slow
def test_an_adapt_run_is_explained_with_what_adaptation_changed(tmp_path):
    src, tgt = write_domains(tmp_path)
    res = transferkit.adapt(
        src,
        tgt,
        method="dann",
        model="tiny-cnn",
        epochs=2,
        image_size=16,
        target_labels_for_eval=True,
    )
    out = transferkit.explain(res.run_id, tgt, max_inputs=6, method="gradcam++")
    assert len(out.rows) == 6 and all(r["true"] in ("h", "v", "d") for r in out.rows)
    assert all(m.shape == (16, 16) for m in out.maps)
    t = out.transfer
    assert t["analysed"] and t["source"] == "tiny-cnn" and len(t["blocks"]) == 3
    assert "--unfreeze" not in t["reading"]  # adapt has no such flag
    assert RunStore().get(res.run_id).extra["what_transferred"]["explain_run"] == out.run_id
