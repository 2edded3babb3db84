"""The automatic search on a tiny model and small data: inside its budget, better than the
library's default recipe, the test split read once; killed and resumed without redoing
finished trials; two workers sharing one study (SQLite, and a real PostgreSQL server). First,
the fast parts of the runner: trials read back from a real Optuna study, when trials stop, and
``fit --strategy auto --budget`` reaching the search."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli

import transferkit
from transferkit.runs.auto.trials import optimize, trial_rows
from transferkit.search.choose import standard_error
from transferkit.store import RunStore

DATA = [
    "--data",
    "builtin:digits",
    "--models",
    "tiny-cnn",
    "--labels-per-class",
    "20",
    "--image-sizes",
    "16,24",
    "--max-epochs",
    "3",
    "--seed",
    "0",
]
# the tests of the trials' machinery (resume, workers) choose on validation: on data this
# small the search would otherwise keep a share of its budget for k-fold selection
# (tests/runs/test_auto_selection.py), leaving these short budgets fewer trials
SMALL = [*DATA, "--kfold-below", "0"]


def _trial_runs(store: RunStore, search: str) -> list:
    return [
        r
        for r in store.list(kind="fit", limit=None)
        if r.parent == search and r.extra.get("trial") is not None
    ]


def _study():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(direction="maximize")  # in memory


def test_trial_rows_read_every_trial_of_the_study_as_a_leaderboard_row():
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.trial import TrialState, create_trial

    study = _study()
    dist = {
        "model": CategoricalDistribution(["tiny-cnn"]),
        "strategy": CategoricalDistribution(["finetune", "scratch"]),
        "lr_finetune": FloatDistribution(1e-4, 1e-2, log=True),
    }
    params = {"model": "tiny-cnn", "strategy": "finetune", "lr_finetune": 1e-3}
    common = {"params": params, "distributions": dist}
    study.add_trial(
        create_trial(
            value=0.9,
            intermediate_values={2: 0.9, 0: 0.5, 1: 0.8},  # read back in epoch order
            user_attrs={"run": "r0", "n_val": 40, "val_nll": 0.3, "host": "a"},
            **common,
        )
    )
    study.add_trial(
        create_trial(
            state=TrialState.PRUNED,
            intermediate_values={0: 0.4},
            user_attrs={"reason": "pruned by successive halving after epoch 0"},
            **common,
        )
    )
    study.add_trial(  # a failed trial is pruned for Optuna, failed for the leaderboard
        create_trial(state=TrialState.PRUNED, user_attrs={"failed": "CUDA out of memory"}, **common)
    )
    rows = trial_rows(study)
    assert [(r["trial"], r["state"]) for r in rows] == [
        (0, "complete"),
        (1, "pruned"),
        (2, "failed"),
    ]
    done = rows[0]
    assert done["curve"] == [0.5, 0.8, 0.9] and done["epochs"] == 3
    assert (done["val"], done["run"], done["n_val"], done["val_nll"]) == (0.9, "r0", 40, 0.3)
    assert (done["model"], done["strategy"], done["image_size"]) == ("tiny-cnn", "finetune", None)
    assert done["worker"] == "a" and done["kind"] == "trial" and done["params"] == params
    assert rows[1]["reason"].startswith("pruned by successive halving")
    assert rows[2]["reason"] == "CUDA out of memory" and rows[2]["curve"] == []


def test_trials_stop_at_the_number_asked_for_and_never_start_after_the_deadline():
    study = _study()
    ran = []

    def objective(trial) -> float:
        ran.append(trial.number)
        return trial.suggest_float("x", 0.0, 1.0)

    optimize(study, objective, time.monotonic() - 1.0, None)
    assert ran == []  # the deadline has passed: not one trial
    optimize(study, objective, time.monotonic() + 60.0, 3)
    assert ran == [0, 1, 2]
    optimize(study, objective, time.monotonic() + 60.0, 3)  # a resumed search with 3 finished
    assert ran == [0, 1, 2]
    optimize(study, objective, time.monotonic() + 60.0, 5)
    assert ran == [0, 1, 2, 3, 4]


def test_fit_with_strategy_auto_and_a_budget_runs_the_search():
    # fit hands a budget to the search, which checks its settings before loading anything
    with pytest.raises(transferkit.UserError, match="--budget 'abc' is not a duration"):
        transferkit.fit("builtin:digits", strategy="auto", budget="abc")
    with pytest.raises(transferkit.UserError, match="loads and splits the data itself"):
        transferkit.fit("builtin:digits", strategy="auto", budget="1m", splits=None)


@pytest.mark.slow
def test_search_stays_in_budget_keeps_up_with_trial_0_and_reads_the_test_split_once():
    # the validation rule of one configuration (the search before k-fold selection and
    # ensembles, which tests/runs/test_auto_selection.py covers)
    t0 = time.perf_counter()
    res = transferkit.auto(
        "builtin:digits",
        models="tiny-cnn",
        budget="25s",
        labels_per_class=20,
        image_sizes=[16, 24],
        max_epochs=3,
        seed=0,
        kfold_below=0,
        ensemble=False,
    )
    wall = time.perf_counter() - t0
    assert wall <= 1.1 * 25, wall
    board = {(r["kind"], r.get("trial"), r.get("strategy")): r for r in res.leaderboard}
    trial0 = board[("trial", 0, "finetune")]
    assert trial0["params"]["lr_finetune"] == 1e-3 and trial0["params"]["unfreeze"] == 0
    assert res.chosen["state"] == "complete"
    # never behind the library's default recipe by more than the choice rule's one standard
    # error (a trial must beat the best cheap strategy by that much to be chosen over it)
    se = standard_error(res.chosen["val"], int(trial0.get("n_val") or 0))
    assert res.chosen["val"] >= trial0["val"] - se, (res.chosen, trial0, se)
    assert 0.5 < res.metrics["test_accuracy"] <= 1.0
    store = RunStore()
    search = store.get(res.run_id)
    assert search.status == "done" and search.extra["why"] == res.why
    runs = [r for r in store.list(limit=None) if r.parent == res.run_id]
    tested = [r.id for r in runs if "test_accuracy" in r.metrics]
    assert tested == [res.chosen["run"]]  # only the winner ever saw the test split
    states = {r.status for r in _trial_runs(store, res.run_id)}
    assert {"done", "pruned"} <= states <= {"done", "pruned", "failed"}
    assert len([r for r in res.leaderboard if r["kind"] == "trial"]) >= 4
    assert {row["model"] for row in res.ranking} == {"tiny-cnn"}


def _start(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "transferkit", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _complete_trials(home: Path, search: str) -> dict[int, str]:
    """{trial number: its run} of the trials the search's study has recorded as complete (a
    trial whose run is done may not be, yet: a kill then loses it)."""
    import optuna

    if not (home / "optuna.db").exists():
        return {}
    try:
        study = optuna.load_study(
            study_name=f"auto-{search}", storage=f"sqlite:///{home / 'optuna.db'}"
        )
    except KeyError:  # not created yet
        return {}
    return {
        t.number: t.user_attrs["run"]
        for t in study.trials
        if t.state.name == "COMPLETE" and "run" in t.user_attrs
    }


@pytest.mark.slow
def test_a_killed_search_resumes_without_redoing_finished_trials(tk_home):
    env = {**os.environ, "TRANSFERKIT_HOME": str(tk_home)}
    proc = _start(["auto", *SMALL, "--budget", "30s"], env)
    store, deadline, search = RunStore(tk_home), time.time() + 120, None
    while time.time() < deadline and proc.poll() is None:
        searches = store.list(kind="auto")
        search = searches[0].id if searches else None
        if search and len(_complete_trials(tk_home, search)) >= 2:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert search is not None
    before = _complete_trials(tk_home, search)
    assert len(before) >= 2 and store.get(search).status == "interrupted"
    out = json.loads(run_cli("auto", "--resume", search, "--json", env_extra=env, check=0).stdout)
    assert out["run"] == search
    trials = {r["trial"]: r for r in out["leaderboard"] if r["kind"] == "trial"}
    for number, run_id in before.items():
        assert trials[number]["run"] == run_id  # kept, not trained again
    done = [r for r in _trial_runs(store, search) if r.status == "done"]
    numbers = [r.extra["trial"] for r in done]
    assert len(numbers) == len(set(numbers))  # no trial ran to the end twice
    assert store.get(search).status == "done"


def test_the_budget_bar_of_an_interrupted_search_shows_each_call_and_what_is_left():
    from transferkit.report.search_plots import budget_parts, budget_words

    # what a search killed in its second call left in its record: its account and stages
    extra = {
        "budget_account": {"budget_s": 180.0, "before": [100.0], "this_call": 50.0},
        "stages": {"trials": 30.0, "cheap": 15.0},
    }
    parts = budget_parts(extra, {}, finished=False)
    assert parts == [
        ("before interruption 1", 100.0),
        ("cheap", 15.0),
        ("trials", 30.0),
        ("other", 5.0),
    ]
    words = budget_words(parts, 180.0, "interrupted")
    assert "150 s of the 180 s budget" in words and "gets the 30 s left" in words
    # once finished, its timings hold every call (their keys come back sorted from the store)
    timings = {"before interruption 2": 50.0, "before interruption 1": 100.0, "test": 2.0}
    timings |= {"trials": 20.0, "other": 1.0, "total": 173.0}
    parts = budget_parts(extra, timings, finished=True)
    assert [k for k, _ in parts] == [
        "before interruption 1",
        "before interruption 2",
        "trials",
        "test",
        "other",
    ]
    words = budget_words(parts, 180.0, "done")
    assert "100 s before interruption 1, 50 s before interruption 2, then 23 s" in words


STARTUP_S = 5.0  # per call: the interpreter, torch and the data loaded before the clock starts


def _killed_search(env: dict, budget: str, until) -> tuple[str, float]:
    """A search started as a user would, SIGKILLed once ``until(record)`` holds; (its run
    id, the wall seconds from the start of its process to the kill)."""
    t0 = time.perf_counter()
    proc = _start(["auto", *SMALL, "--budget", budget], env)
    store, deadline, rec = RunStore(Path(env["TRANSFERKIT_HOME"])), time.time() + 90, None
    while time.time() < deadline and proc.poll() is None:
        searches = store.list(kind="auto")
        rec = searches[0] if searches else None
        if rec is not None and until(rec, time.perf_counter() - t0):
            break
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()[1][-2000:]  # killed, not finished
    proc.send_signal(signal.SIGKILL)
    wall = time.perf_counter() - t0
    proc.wait(timeout=30)
    assert rec is not None and store.get(rec.id).status == "interrupted"
    return rec.id, wall


@pytest.mark.slow
def test_a_resumed_search_keeps_to_the_budget_of_all_its_calls(tk_home):
    """The budget is the total of every call: killed 20 s into a 30 s budget, the resumed
    search gets what is left (the time a call spends starting, before its clock starts, is
    :data:`STARTUP_S` at most), and the record, the report and `runs show` show both parts."""
    from transferkit.report import search_plots
    from transferkit.report.auto import auto_section
    from transferkit.report.document import Image, Paragraph

    env = {**os.environ, "TRANSFERKIT_HOME": str(tk_home)}
    search, first = _killed_search(env, "30s", lambda rec, wall: wall >= 20)
    shown = " ".join(run_cli("runs", "show", search, env_extra=env, check=0).stdout.split())
    assert "s of the 30 s budget" in shown, shown  # what the killed call spent, in runs show
    t0 = time.perf_counter()
    run_cli("auto", "--resume", search, "--json", env_extra=env, check=0)
    second = time.perf_counter() - t0
    assert first + second <= 1.1 * 30 + 2 * STARTUP_S, (first, second)
    rec = RunStore(tk_home).get(search)
    before = rec.timings["before interruption 1"]
    assert first - STARTUP_S - 1.0 <= before <= first  # the killed call counted, to a second
    assert rec.timings["total"] == pytest.approx(
        sum(rec.extra["budget_account"]["before"]) + rec.extra["budget_account"]["this_call"],
        abs=1.0,
    )
    assert rec.timings["total"] <= 1.1 * 30
    parts = search_plots.budget_parts(rec.extra, rec.timings, finished=True)
    assert parts[0] == ("before interruption 1", before) and "test" in dict(parts)
    words = search_plots.budget_words(parts, 30.0, "done")
    assert f"{before:.0f} s before interruption 1, then" in words
    section, _ = auto_section(rec)  # the report's budget bar, and the same in words
    assert words in [b.text for b in section.blocks if isinstance(b, Paragraph)]
    assert any(isinstance(b, Image) and b.name.endswith("-budget") for b in section.blocks)
    shown = " ".join(run_cli("runs", "show", search, env_extra=env, check=0).stdout.split())
    assert f"before interruption 1 {before:.1f} s" in shown  # in its time line


@pytest.mark.slow
def test_a_resumed_search_with_no_budget_left_chooses_among_what_finished(tk_home):
    env = {**os.environ, "TRANSFERKIT_HOME": str(tk_home)}
    search, _ = _killed_search(env, "20s", lambda rec, wall: "cheap" in rec.extra)
    store = RunStore(tk_home)
    ran = {r.id for r in store.list(limit=None) if r.parent == search}
    # as if the killed call had run to the end of its budget: nothing is left for the resume
    store.update(
        search, extra={"budget_account": {"budget_s": 20.0, "before": [], "this_call": 20.0}}
    )
    p = run_cli("auto", "--resume", search, "--json", env_extra=env, check=0)
    out = json.loads(p.stdout)
    assert (
        "the earlier calls spent the budget, so the resumed search ran nothing more" in out["why"]
    )
    assert out["chosen"]["state"] == "complete" and out["chosen"]["run"] in ran
    assert {r.id for r in store.list(limit=None) if r.parent == search} == ran  # none new
    rec = store.get(search)
    assert rec.status == "done" and rec.timings["before interruption 1"] == 20.0


def _workers(tmp_path: Path, storage: str) -> None:
    """A search and one extra worker on one study, each with its own run store."""
    homes = [tmp_path / "main", tmp_path / "worker"]
    envs = [{**os.environ, "TRANSFERKIT_HOME": str(h)} for h in homes]
    common = [*SMALL, "--storage", storage, "--study", "shared", "--budget", "45s"]
    main = _start(["auto", *common, "--json"], envs[0])
    import optuna

    deadline = time.time() + 60
    while time.time() < deadline:  # the worker joins once the search published its space
        try:
            if optuna.load_study(study_name="shared", storage=storage).user_attrs:
                break
        except Exception:  # noqa: BLE001 - not created yet
            pass
        time.sleep(0.3)
    worker = _start(["auto", "--worker", *common, "--json"], envs[1])
    out_main, err_main = main.communicate(timeout=300)
    out_worker, err_worker = worker.communicate(timeout=300)
    assert main.returncode == 0, err_main[-2000:]
    assert worker.returncode == 0, err_worker[-2000:]
    study = optuna.load_study(study_name="shared", storage=storage)
    stores = [RunStore(h) for h in homes]
    ran = {}
    for t in study.trials:
        run_id = t.user_attrs.get("run")
        if t.state.name == "COMPLETE":
            owners = [s for s in stores if _has(s, run_id)]
            assert len(owners) == 1, (t.number, run_id)  # recorded once, by one machine
            ran[t.number] = stores.index(owners[0])
    assert set(ran.values()) == {0, 1}  # both machines ran trials
    leader = json.loads(out_main)["leaderboard"]
    complete = {r["trial"] for r in leader if r["kind"] == "trial" and r["state"] == "complete"}
    assert complete == set(ran)  # the search saw every worker's trials


def _has(store: RunStore, run_id: str | None) -> bool:
    try:
        return run_id is not None and store.get(run_id) is not None
    except transferkit.UserError:
        return False


@pytest.mark.slow
def test_two_workers_split_the_trials_of_one_study(tmp_path):
    _workers(tmp_path, f"sqlite:///{tmp_path / 'studies.db'}")


@pytest.mark.slow
def test_two_workers_share_a_study_in_postgresql(tmp_path):
    import pg

    why = pg.why_not()
    if why:
        pytest.skip(why)
    server = pg.Server()
    try:
        url = server.start()
        _workers(tmp_path, url)
    finally:
        server.stop()


@pytest.mark.slow
def test_resume_refuses_data_that_changed_since_the_search_started(tk_home, tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    data = tmp_path / "d.npz"
    np.savez(data, x=rng.integers(0, 255, (80, 12, 12), dtype=np.uint8), y=np.arange(80) % 4)
    env = {**os.environ, "TRANSFERKIT_HOME": str(tk_home)}
    proc = _start(
        [
            "auto",
            "--data",
            str(data),
            "--models",
            "tiny-cnn",
            "--image-sizes",
            "16",
            "--budget",
            "60s",
        ],
        env,
    )
    store, deadline = RunStore(tk_home), time.time() + 60
    while time.time() < deadline and not store.list(kind="auto"):
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    search = store.list(kind="auto")[0].id
    np.savez(data, x=rng.integers(0, 255, (80, 12, 12), dtype=np.uint8), y=np.arange(80) % 4)
    p = run_cli("auto", "--resume", search, env_extra=env)
    assert p.returncode == 2 and "changed" in p.stderr and "Traceback" not in p.stderr


def test_strategies_the_search_does_not_run_are_refused_before_loading():
    # the rule and the search itself are strategies too, but no trial or cheap stage runs them
    for name in ("linear-or-finetune", "auto"):
        with pytest.raises(transferkit.UserError, match=f"the search does not run '{name}'"):
            transferkit.auto("builtin:digits", budget="5m", strategies=["linear", name])
