"""A user's own plug-ins, written outside the package and registered there, are checked by the
same public checks as the project's: a working strategy and score pass, a broken twin of each
fails with a message naming it and the check it fails. Run in a real subprocess
(``user_plugins.py``), so that the project's registries stay as they are for the other tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).with_name("user_plugins.py")


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, str]:
    import os

    home = tmp_path_factory.mktemp("home")
    env = {**os.environ, "TRANSFERKIT_HOME": str(home)}
    proc = subprocess.run(
        [sys.executable, str(PLUGINS)], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["_home_untouched"] = not any(home.iterdir())
    return out


def test_a_users_own_strategy_and_score_pass(outcomes):
    assert outcomes["centroids"] == "ok"
    assert outcomes["centroid-gap"] == "ok"


def test_a_strategy_that_is_not_seeded_fails_naming_itself_and_the_check(outcomes):
    msg = outcomes["jittered-centroids"]
    assert msg.startswith("strategy 'jittered-centroids' fails the check 'gives the same")
    assert "two fits with seed 0 gave test probabilities that differ" in msg


def test_a_score_blind_to_the_labels_fails_naming_itself_and_the_check(outcomes):
    msg = outcomes["first-row"]
    assert msg.startswith("transferability score 'first-row' fails the check 'scores true")
    assert "(not lower) for random labels" in msg


def test_the_checks_leave_the_users_run_store_alone(outcomes):
    """Strategy checks fit and record runs, in a store of their own in a temporary folder."""
    assert outcomes["_home_untouched"]


def test_a_deep_method_whose_critic_never_trains_fails_naming_it(outcomes):
    assert outcomes["idle-critic"] == (
        "adaptation method 'idle-critic' fails the check 'its loss is finite and reaches the "
        "backbone': the loss does not train the method's own modules "
        "['critic.weight', 'critic.bias']"
    )


def test_an_explanation_that_is_not_a_map_over_the_image_fails_naming_it(outcomes):
    msg = outcomes["row-saliency"]
    assert msg.startswith("explanation method 'row-saliency' fails the check 'one finite map")
    assert "maps of shapes {(24,)} for 24 x 24 images" in msg
