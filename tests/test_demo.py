"""`bharnet demo` end to end on a tiny benchmark: reports, determinism, reuse of finished stages."""
import json

import numpy as np
import pytest

from bharnet.cli import main
from bharnet.demo import branch_scores, demo_config, group_table, run_demo


def test_group_table_counts_predictions_over_all_classes():
    labels = np.array([0, 7, 8, 14])  # body, hand, hand, mixed
    scores = np.zeros((4, 20))
    scores[[0, 1, 2, 3], [0, 7, 7, 3]] = 1  # right, right, wrong (7 for 8), wrong (3: a body class)
    table = group_table(scores, labels)
    assert table == {"overall": 0.5, "body": 1.0, "hand": 0.5, "mixed": 0.0}


def test_branch_rows_of_bharnet_e():
    s = {k: np.eye(3)[[0, 1, 2]] * i for i, k in enumerate(
        ["body_expert", "hand_expert", "body_interactive", "hand_interactive", "logits"], 1)}
    rows = branch_scores("bharnet_e", s)
    np.testing.assert_array_equal(rows["E: interactive branches"], s["body_interactive"] + s["hand_interactive"])
    np.testing.assert_array_equal(rows["E: expert branches (light model)"], s["body_expert"] + s["hand_expert"])


def test_config_is_a_valid_engine_config(tmp_path):
    config = demo_config("bharnet_e", tmp_path / "s.store", tmp_path, init=tmp_path / "x.pt")
    assert config["trainer"]["gradient_clip"] == 5.0 and config["data"]["modality"] == "bone"
    assert config["init"] == {"body": str(tmp_path / "x.pt"), "hand": str(tmp_path / "x.pt"), "joint": None,
                              "bone": None}
    with pytest.raises(ValueError, match="unknown demo model"):
        demo_config("nope", "s", tmp_path)


def test_demo_runs_is_deterministic_and_reuses_finished_stages(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "a"), "--subjects", "3", "--epochs", "1", "-q"]) == 0
    printed = capsys.readouterr().out
    assert "BHaRNet-E (all branches)" in printed and "body expert (alone)" in printed and "report.md" in printed
    for name in ("report.md", "results.json", "confusion.png", "configs/bharnet_e.yaml",
                 "runs/score_fusion/last.pt", "runs/bharnet_e/scores_last.npz"):
        assert (tmp_path / "a" / name).exists(), name
    first = json.loads((tmp_path / "a" / "results.json").read_text())
    assert set(first["rows"]["BHaRNet-E (all branches)"]) == {"overall", "body", "hand", "mixed"}
    assert first["counts"] == {"train": 120, "test": 60}

    second = run_demo(tmp_path / "b", subjects=3, epochs=1, progress=False, say=lambda *_: None)
    assert second.rows == first["rows"]  # same seed, same numbers

    said = []
    again = run_demo(tmp_path / "a", subjects=3, epochs=1, progress=False, say=said.append)
    assert any("reusing the finished run" in line for line in said)
    assert again.rows == first["rows"]
