"""Benchmark: 50 seeded SIGKILLs spread over fit / pretrain / adapt / compare, then resume each.

What it measures
----------------
Each workflow (tiny-cnn on 8 px images: fit finetune on builtin:digits, pretrain autoencoder on
600 digits, adapt source-only + DANN on two synthetic stroke domains, compare linear + finetune
x 2 seeds; the settings of ``tests/faults/faultkit.py``, with ``--epochs``) first runs uninterrupted in a fresh
store: its result is the reference, its timeline gives the kill window (from its run folder
appearing to its record turning ``done``, plus 0.2 s). Then chains run, each in a fresh store:
the command is SIGKILLed at ``U(0, window)`` after its run folder appears; a chain of two kills
also kills the ``--resume`` that follows. After every kill the store is judged (SQLite
``integrity_check``; no run left ``running``; every ``done`` run with a model has
``model/model.json`` + ``model.safetensors``; every ``*.json``, ``*.safetensors`` and ``*.npz``
under its final name reads back completely - only hidden ``.NAME.*.tmp`` files may be partial).
Then the run is continued (``--resume RUN``; compare: the same command again) and its metrics
and history compared with the reference, exactly (run ids and timings left out).

The kill and judging code is ``tests/faults/faultkit.py`` and ``faultcheck.py``, shared with the
tests. Writes ``benchmarks/results/faults.json`` and ``.md``.

    .venv/bin/python benchmarks/faults.py                 # 50 kills, 2 chains at a time
    .venv/bin/python benchmarks/faults.py --kills 8       # smoke test
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path[:0] = [str(HERE.parent / "tests" / "faults"), str(HERE.parent / "tests")]
import _common as C  # noqa: E402
import faultcheck as fc  # noqa: E402
import faultkit as fk  # noqa: E402
from logme_speed import other_busy_processes  # noqa: E402

NAME = "faults"
ORDER = ("fit", "pretrain", "adapt", "compare")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=50, help="SIGKILLs to deliver in total")
    p.add_argument(
        "--epochs",
        type=int,
        default=6,
        help="pretrain epochs (fit: one more); more epochs, more kills mid-training",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2, help="chains run at the same time")
    p.add_argument(
        "--double",
        type=float,
        default=0.3,
        help="share of chains that also kill the first --resume",
    )
    p.add_argument("--work-dir", help="keep the stores here (default: a temporary folder)")
    p.add_argument("--out-dir", default=str(C.RESULTS_DIR))
    return p.parse_args(argv)


def _chain(wf: fk.Workflow, ref: fk.Reference, home: Path, seed: list[int], kills: int):
    """One chain in a fresh store; a failure (a resume that did not succeed, ...) is recorded
    as such, with the store's state, instead of stopping the benchmark."""
    try:
        result = fk.kill_chain(wf, ref, home, np.random.default_rng(seed), kills=kills)
        result.pop("outcome")
    except AssertionError as e:
        result = {
            "workflow": wf.name,
            "attempts": [],
            "resumed": False,
            "identical": False,
            "final": fc.verify(home),
            "error": str(e)[-3000:],
        }
    shutil.rmtree(home, ignore_errors=True)
    return result


def run_chains(args, flows, refs, work: Path, clock: C.Clock) -> list[dict[str, Any]]:
    """Chains round-robin over the workflows until ``args.kills`` kills were delivered (a
    drawn moment after the process already ended delivers none)."""
    plan_rng = np.random.default_rng([args.seed, 1])
    chains: list[dict[str, Any]] = []
    delivered, index = 0, 0
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        while delivered < args.kills:
            batch, planned = [], 0
            while delivered + planned < args.kills:
                name = ORDER[index % len(ORDER)]
                k = min(
                    2 if plan_rng.random() < args.double else 1, args.kills - delivered - planned
                )
                batch.append(
                    pool.submit(
                        _chain,
                        flows[name],
                        refs[name],
                        work / f"chain-{index:03d}-{name}",
                        [args.seed, 2, index],
                        k,
                    )
                )
                planned, index = planned + k, index + 1
            for f in batch:
                c = f.result()
                chains.append(c)
                delivered += sum(a["killed"] for a in c["attempts"])
                clock.say(
                    f"{c['workflow']}: {[a['phase'] for a in c['attempts']]} -> "
                    f"resumed {c['resumed']}, identical {c['identical']}, "
                    f"store ok {c['final']['ok']} ({delivered} kills)"
                )
    return chains


def _interrupted(chain: dict[str, Any]) -> bool:
    """Whether a kill left the run unfinished, so that a later process (a --resume, killed
    itself or not; compare: the command again) had to finish it."""
    return any(a["killed"] and a["phase"] != "after it finished" for a in chain["attempts"])


def _mid_write(chain: dict[str, Any]) -> int:
    """Kills of this chain that left a new temporary file (one left by an earlier kill stays
    until `runs check --repair`, and is not counted again)."""
    seen: set[str] = set()
    count = 0
    for a in chain["attempts"]:
        new = set(a["temp_files"]) - seen
        count += bool(a["killed"] and new)
        seen |= new
    return count


def summarise(chains: list[dict[str, Any]]) -> dict[str, Any]:
    def one(group: list[dict[str, Any]]) -> dict[str, Any]:
        attempts = [a for c in group for a in c["attempts"]]
        checks = [a["verify"] for a in attempts] + [c["final"] for c in group]
        kills = [a for a in attempts if a["killed"]]
        resumed = [c for c in group if _interrupted(c)]
        return {
            "chains": len(group),
            "kills": len(kills),
            "drawn_after_exit": len(attempts) - len(kills),
            "kills_of_a_resume": sum(a["killed"] for c in group for a in c["attempts"][1:]),
            "runs_resumed": len(resumed),
            "resumed_identical": sum(c["identical"] for c in resumed),
            "identical": sum(c["identical"] for c in group),
            "corrupt_stores": sum(v["integrity"] != "ok" for v in checks),
            "half_written_files": sum(len(v["half_written"]) for v in checks),
            "status_problems": sum(len(v["status"]) for v in checks),
            "kills_mid_write": sum(_mid_write(c) for c in group),
            "phases": dict(Counter(a["phase"] for a in kills)),
        }

    out = {name: one([c for c in chains if c["workflow"] == name]) for name in ORDER}
    out["total"] = one(chains)
    return out


PHASES = (
    "before its record",
    "before the first checkpoint",
    "with a checkpoint on disk",
    "after it finished",
)


def markdown(head, refs, commands, summary, chains, wall: float) -> str:
    cols = [
        "workflow",
        "kills",
        "of a resume",
        "runs resumed",
        "resumed identical",
        "corrupt stores",
        "half-written files visible",
        "status problems",
        "kills mid-write",
        *PHASES,
    ]
    rows = []
    for name in (*ORDER, "total"):
        s = summary[name]
        rows.append(
            [
                name,
                s["kills"],
                s["kills_of_a_resume"],
                s["runs_resumed"],
                f"{s['resumed_identical']}/{s['runs_resumed']}",
                s["corrupt_stores"],
                s["half_written_files"],
                s["status_problems"],
                s["kills_mid_write"],
                *[s["phases"].get(p, 0) for p in PHASES],
            ]
        )
    ref_rows = [
        [
            n,
            f"`{' '.join(commands[n])}`",
            f"{refs[n].startup_s:.1f}",
            f"{refs[n].window_s:.1f}",
            f"{refs[n].wall_s:.1f}",
        ]
        for n in ORDER
    ]
    failed = [c for c in chains if c.get("error")]
    t = summary["total"]
    text = (
        f"# Fault injection: SIGKILL and resume\n\n{C.md_header(head, wall)}\n\n"
        + C.md_table(cols, rows)
        + f"\n\n{t['kills']} SIGKILLs in {t['chains']} chains ({t['drawn_after_exit']} drawn "
        "moments fell after the process had already exited and delivered nothing); 'of a "
        "resume': kills of the process continuing a killed run (`--resume`; compare: the "
        "command again). 'runs "
        "resumed': chains in which a kill left the run unfinished and a later process finished "
        "it (`--resume RUN`, itself killed or not; compare: the same command again); 'resumed "
        "identical': of those, "
        "metrics and history equal to the uninterrupted reference. 'kills mid-write': kills "
        "that left a new hidden temporary file (a write cut off; its target kept its previous "
        "version; the file stays until `transferkit runs check --repair`). Phases: where each kill left the run. Corrupt stores, half-written files "
        "and status problems are counted over every check (after each kill and at the end).\n\n"
        "Reference runs (uninterrupted; kills are drawn uniformly from the window, which "
        "starts when the run folder appears):\n\n"
        + C.md_table(["workflow", "command", "start-up s", "kill window s", "wall s"], ref_rows)
        + "\n"
    )
    if failed:
        text += (
            f"\n{len(failed)} chain(s) failed:\n\n"
            + "\n".join(f"- {c['workflow']}: {c['error'][:300]}" for c in failed)
            + "\n"
        )
    return text


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    head = C.header()
    busy_at_start = other_busy_processes()
    clock = C.Clock()
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="tk-faults-"))
    flows = fk.workflows(work / "data", epochs=args.epochs)
    commands = {n: ["transferkit", *w.args] for n, w in flows.items()}
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {n: pool.submit(fk.reference, flows[n], work / f"reference-{n}") for n in ORDER}
        refs = {n: f.result() for n, f in futures.items()}
    for n in ORDER:
        clock.say(
            f"reference {n}: start-up {refs[n].startup_s:.1f} s, kill window "
            f"{refs[n].window_s:.1f} s"
        )
    chains = run_chains(args, flows, refs, work, clock)
    summary = summarise(chains)
    result = {
        **head,
        "settings": vars(args),
        "commands": commands,
        "references": {
            n: {"startup_s": r.startup_s, "window_s": r.window_s, "wall_s": r.wall_s}
            for n, r in refs.items()
        },
        "summary": summary,
        "chains": chains,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "machine_shared_with": sorted({*busy_at_start.values(), *other_busy_processes().values()}),
    }
    out_dir = Path(args.out_dir)
    C.write_json(out_dir / f"{NAME}.json", result)
    md = markdown(head, refs, commands, summary, chains, clock.elapsed())
    shared = result["machine_shared_with"]
    md = md.replace(
        "\n\n|",
        f"\n- Load average at end: {result['load_average_at_end']}\n"
        + (
            f"- Shared with other busy processes: {'; '.join(shared)}\n"
            if shared
            else "- No other busy process was seen at the start or the end.\n"
        )
        + "\n|",
        1,
    )
    C.write_text(out_dir / f"{NAME}.md", md)
    t = summary["total"]
    clock.say(
        f"{t['kills']} kills, {t['runs_resumed']} resumed, {t['resumed_identical']} "
        f"identical, {t['corrupt_stores']} corrupt stores, {t['half_written_files']} "
        f"half-written files; wrote {out_dir / NAME}.json/.md"
    )
    ok = (
        t["corrupt_stores"] == 0
        and t["half_written_files"] == 0
        and t["status_problems"] == 0
        and t["identical"] == t["chains"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
