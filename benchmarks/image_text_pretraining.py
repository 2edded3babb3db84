"""Image-text pretraining (issue 33, part 2): a CLIP-style model of one's own on 8 Fashion-MNIST
classes, zero-shot on the 2 it never saw.

Source: the Fashion-MNIST training images of 8 classes, each paired with the written
descriptions below (several per class, written once here and never changed between runs),
through the public ``transferkit.pretrain(method="image-text")``: ``cnn-small`` from fresh
weights as the image tower, ``minilm-l6`` (frozen) as the text tower. Held out: Sandal and
Shirt. Each has a described neighbour among the seen classes (Sneaker / Ankle boot; T-shirt,
Pullover, Coat), which is what lets a text description carry to an unseen class.

Measured on the official Fashion-MNIST test split (never trained on), per seed:

* unseen: 2-way zero-shot between the held-out classes (chance 50%);
* generalised: 10-way zero-shot over every class (chance 10%), with the seen and unseen
  accuracies and their harmonic mean (the usual generalised zero-shot summary);
* the same for the same model prompted with the class names alone ("a photo of a {name}.",
  one MiniLM prototype per class through the model's text tower) instead of the descriptions;
* retrieval recall@1 / @5 image->text and text->image on the run's validation pairs.

Per seed a 95% Wilson interval over the test images; across seeds the mean and its 95%
t-interval. Resumable: with the same ``--home`` a re-run reuses the finished models (by name)
and the evaluated seeds.

    .venv/bin/python benchmarks/image_text_pretraining.py --home ~/tk-itx    # 3 seeds
    .venv/bin/python benchmarks/image_text_pretraining.py --quick             # smoke (minutes)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("TRANSFERKIT_QUIET", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

NAME = "image_text_pretraining"
HELD_OUT = ("Sandal", "Shirt")
DESCRIPTIONS = {
    "T-shirt/top": [
        "a short-sleeved t-shirt.",
        "a simple top with short sleeves and a round neck.",
        "a casual cotton tee.",
    ],
    "Trouser": [
        "a pair of long trousers.",
        "pants with two long legs.",
        "full-length slacks seen from the front.",
    ],
    "Pullover": [
        "a long-sleeved pullover sweater.",
        "a warm knitted jumper with long sleeves.",
        "a sweatshirt pulled on over the head.",
    ],
    "Dress": [
        "a one-piece dress.",
        "a long dress that widens towards the hem.",
        "a woman's frock without separate legs.",
    ],
    "Coat": [
        "a long coat with sleeves and a front opening.",
        "a warm jacket for outdoors, buttoned or zipped.",
        "an overcoat with long sleeves.",
    ],
    "Sneaker": [
        "a low sports shoe.",
        "a flat trainer shoe with laces.",
        "a running sneaker seen from the side.",
    ],
    "Bag": [
        "a handbag.",
        "a bag with a handle or a strap.",
        "a square purse for carrying things.",
    ],
    "Ankle boot": [
        "an ankle boot.",
        "a high shoe that covers the ankle, often with a heel.",
        "a short leather boot.",
    ],
    # held out: used only at zero-shot time
    "Sandal": [
        "an open summer shoe with straps.",
        "a sandal made of thin straps, with a flat sole.",
        "light open footwear showing the foot.",
    ],
    "Shirt": [
        "a shirt with a collar and buttons down the front.",
        "a long-sleeved button-up shirt.",
        "a formal shirt with a collar.",
    ],
}
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571}  # t quantiles for n-1 df


def write_data(home: Path) -> dict[str, str]:
    """The 8-class training .npz, the 10-class test .npz and the descriptions (written once)."""
    import numpy as np

    import transferkit

    folder = home / "bench-data"
    paths = {
        "train8": folder / "fmnist-train8.npz",
        "test10": folder / "fmnist-test10.npz",
        "descriptions": folder / "descriptions8.json",
    }
    if not all(p.is_file() for p in paths.values()):
        folder.mkdir(parents=True, exist_ok=True)
        ds = transferkit.load_dataset("builtin:fashion-mnist")
        names = np.asarray(ds.classes)[ds.labels]
        train = (np.asarray(ds.predefined) != "test") & ~np.isin(names, HELD_OUT)
        test = np.asarray(ds.predefined) == "test"
        np.savez(paths["train8"], x=ds.images[train], y=names[train])
        np.savez(paths["test10"], x=ds.images[test], y=names[test])
        seen = {c: s for c, s in DESCRIPTIONS.items() if c not in HELD_OUT}
        paths["descriptions"].write_text(json.dumps(seen, indent=1))
    return {k: str(p) for k, p in paths.items()}


def pretrain_seed(a, data: dict[str, str], seed: int, clock) -> dict:
    """Pretrain (or reuse, by name) the image-text model of ``seed``."""
    from transferkit.runs.pretrain import pretrain
    from transferkit.store import RunStore

    name = f"itx-bench-s{seed}{'-quick' if a.quick else ''}"
    store = RunStore()
    done = [r for r in store.list(kind="pretrain", status="done", limit=None) if r.name == name]
    if done:
        clock.say(f"reusing {name} ({done[0].id})")
        rec = done[0]
    else:
        clock.say(f"pretraining {name} ({a.epochs} epochs, up to {a.max_examples} images)")
        r = pretrain(
            data["train8"],
            method="image-text",
            arch="cnn-small",
            descriptions=data["descriptions"],
            text_model="minilm-l6",
            text_tuning="frozen",
            epochs=a.epochs,
            batch_size=a.batch_size,
            lr=a.lr,
            image_size=28,
            max_examples=a.max_examples,
            seed=seed,
            name=name,
            patience=a.epochs,
        )
        rec = store.get(r.run_id)
    m = rec.metrics
    return {
        "name": name,
        "run": rec.id,
        "train_seconds": rec.timings.get("total"),
        "best_epoch": rec.extra.get("best_epoch"),
        "retrieval": {
            k: m.get(k) for k in ("val_i2t_r1", "val_i2t_r5", "val_t2i_r1", "val_t2i_r5")
        },
        "val_zeroshot_accuracy_seen": m.get("val_zeroshot_accuracy"),
    }


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return (math.nan, math.nan)
    z, p = 1.96, k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (c - h, c + h)


def _accuracy(pred, y) -> dict:
    k, n = int((pred == y).sum()), len(y)
    lo, hi = wilson(k, n)
    return {"accuracy": k / max(n, 1), "n": n, "ci95": [lo, hi]}


def evaluate(name: str, data: dict[str, str], max_test: int | None) -> dict:
    """Zero-shot on the test split: unseen 2-way, generalised 10-way; descriptions vs names."""
    import numpy as np
    import torch

    import transferkit
    from transferkit.features.extract import extract_features
    from transferkit.zoo import create_backbone

    model = create_backbone(name)
    test = transferkit.load_dataset(data["test10"])
    idx = np.arange(len(test)) if not max_test else np.arange(len(test))[:: len(test) // max_test]
    feats = torch.as_tensor(extract_features(model, test, idx, batch_size=256))
    feats = torch.nn.functional.normalize(feats, dim=1)
    y = np.asarray(test.classes)[test.labels[idx]]
    prompts = {
        "descriptions": {c: DESCRIPTIONS[c] for c in test.classes},
        "class_names": {c: [f"a photo of a {c.lower()}."] for c in test.classes},
    }
    out = {}
    for kind, texts in prompts.items():
        protos = []
        for c in test.classes:
            e = model.encode_text(texts[c], device=torch.device("cpu"))
            protos.append(torch.nn.functional.normalize(e.mean(0), dim=0))
        sim = (feats @ torch.stack(protos).t()).numpy()
        classes = np.asarray(test.classes)
        allp = classes[sim.argmax(1)]
        unseen = np.isin(y, HELD_OUT)
        cols = [test.classes.index(c) for c in HELD_OUT]
        two = np.asarray(HELD_OUT)[sim[unseen][:, cols].argmax(1)]
        gen = {
            "all": _accuracy(allp, y),
            "seen": _accuracy(allp[~unseen], y[~unseen]),
            "unseen": _accuracy(allp[unseen], y[unseen]),
        }
        s, u = gen["seen"]["accuracy"], gen["unseen"]["accuracy"]
        gen["harmonic"] = 2 * s * u / (s + u) if s + u else 0.0
        out[kind] = {"unseen_2way": _accuracy(two, y[unseen]), "generalised_10way": gen}
    return out


def interval(values: list[float]) -> dict:
    n = len(values)
    m = C.mean(values)
    if n < 2:
        return {"mean": m, "ci95": [None, None], "n": n}
    h = T95.get(n - 1, 1.96) * C.std(values) / math.sqrt(n)
    return {"mean": m, "ci95": [m - h, m + h], "n": n}


def summarise(seeds: dict[str, dict]) -> dict:
    def pick(path):
        vals = []
        for r in seeds.values():
            v = r
            for p in path:
                v = v[p]
            vals.append(v)
        return interval(vals)

    out = {}
    for kind in ("descriptions", "class_names"):
        out[kind] = {
            "unseen_2way": pick(("zeroshot", kind, "unseen_2way", "accuracy")),
            "all_10way": pick(("zeroshot", kind, "generalised_10way", "all", "accuracy")),
            "seen_in_10way": pick(("zeroshot", kind, "generalised_10way", "seen", "accuracy")),
            "unseen_in_10way": pick(("zeroshot", kind, "generalised_10way", "unseen", "accuracy")),
            "harmonic": pick(("zeroshot", kind, "generalised_10way", "harmonic")),
        }
    for k in ("val_i2t_r1", "val_i2t_r5", "val_t2i_r1", "val_t2i_r5"):
        out[k] = pick(("retrieval", k))
    return out


def markdown(head: dict, summary: dict, seeds: dict, wall: float) -> str:
    def cell(d):
        lo, hi = d["ci95"]
        ci = f" [{C.fmt(lo, 1, 100)}, {C.fmt(hi, 1, 100)}]" if lo is not None else ""
        return f"{C.fmt(d['mean'], 1, 100)}{ci}"

    rows = []
    for kind, label in (("descriptions", "written descriptions"), ("class_names", "class names")):
        s = summary[kind]
        rows.append(
            [
                label,
                cell(s["unseen_2way"]),
                cell(s["all_10way"]),
                cell(s["seen_in_10way"]),
                cell(s["unseen_in_10way"]),
                cell(s["harmonic"]),
            ]
        )
    rows.append(["chance", "50.0", "10.0", "", "", ""])
    ret = [[k, cell(summary[k])] for k in ("val_i2t_r1", "val_i2t_r5", "val_t2i_r1", "val_t2i_r5")]
    per_seed = [
        [
            s,
            r["run"],
            C.fmt(r["zeroshot"]["descriptions"]["unseen_2way"]["accuracy"], 1, 100)
            + " [{}, {}]".format(
                *(C.fmt(v, 1, 100) for v in r["zeroshot"]["descriptions"]["unseen_2way"]["ci95"])
            ),
            C.fmt(r["zeroshot"]["class_names"]["unseen_2way"]["accuracy"], 1, 100),
            C.fmt(r["zeroshot"]["descriptions"]["generalised_10way"]["all"]["accuracy"], 1, 100),
            C.fmt(r["train_seconds"], 0),
        ]
        for s, r in seeds.items()
    ]
    return (
        "\n\n".join(
            [
                f"# Image-text pretraining: zero-shot on held-out Fashion-MNIST classes ({', '.join(HELD_OUT)})",
                C.md_header(head, wall),
                "Zero-shot accuracy (%) on the official test split; mean over seeds [95% t-interval].",
                C.md_table(
                    [
                        "prompts",
                        "unseen 2-way",
                        "all 10-way",
                        "seen (in 10-way)",
                        "unseen (in 10-way)",
                        "harmonic mean",
                    ],
                    rows,
                ),
                "Retrieval on the validation pairs (%), mean [95% t-interval]:",
                C.md_table(["metric", "value"], ret),
                "Per seed (unseen 2-way with its 95% Wilson interval over the test images):",
                C.md_table(
                    [
                        "seed",
                        "run",
                        "unseen 2-way, descriptions",
                        "unseen 2-way, names",
                        "all 10-way",
                        "train s",
                    ],
                    per_seed,
                ),
            ]
        )
        + "\n"
    )


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--home", help="TRANSFERKIT_HOME to use (reuse it to resume); default: temporary"
    )
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument(
        "--max-examples", type=int, default=None, help="training images (default: all 48k)"
    )
    p.add_argument("--max-test", type=int, default=None, help="test images (default: all 10k)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--quick", action="store_true", help="smoke test: 1 seed, 2 epochs, 2k images")
    p.add_argument("--out", default=str(C.RESULTS_DIR))
    a = p.parse_args()
    if a.quick:
        a.seeds, a.epochs, a.max_examples, a.max_test = "0", 2, 2000, 2000
    home = C.fresh_home(a.home, "tk-itx-")
    clock = C.Clock()
    head = C.header()
    data = write_data(home)
    state_path = home / f"{NAME}{'-quick' if a.quick else ''}-state.json"
    seeds = json.loads(state_path.read_text()) if state_path.is_file() else {}
    for seed in (int(s) for s in a.seeds.split(",")):
        if str(seed) in seeds:
            clock.say(f"seed {seed}: done before")
            continue
        row = pretrain_seed(a, data, seed, clock)
        row["zeroshot"] = evaluate(row["name"], data, a.max_test)
        d = row["zeroshot"]["descriptions"]
        clock.say(
            f"seed {seed}: unseen 2-way {d['unseen_2way']['accuracy']:.3f}, all 10-way "
            f"{d['generalised_10way']['all']['accuracy']:.3f}, i2t R@1 "
            f"{row['retrieval']['val_i2t_r1']:.3f}"
        )
        seeds[str(seed)] = row
        C.write_json(state_path, seeds)
    summary = summarise(seeds)
    name = NAME + ("-quick" if a.quick else "")
    data_out = {
        **head,
        "settings": {**vars(a), "held_out": HELD_OUT, "descriptions": DESCRIPTIONS},
        "summary": summary,
        "seeds": seeds,
    }
    C.write_results(
        Path(a.out), name, data_out, markdown(head, summary, seeds, clock.elapsed()), clock
    )


if __name__ == "__main__":
    main()
