"""`bharnet demo` end to end on a tiny benchmark: reports, determinism, reuse of finished stages."""
import json

import numpy as np
import pytest

from bharnet.cli import main
from bharnet.datasets import synthetic
from bharnet.demo import branch_scores, demo_config, demo_streams, group_table, run_demo


def test_group_table_counts_predictions_over_all_classes():
    labels = np.array([0, 7, 8, 14])  # basic benchmark: body, hand, hand, mixed
    scores = np.zeros((4, 20))
    scores[[0, 1, 2, 3], [0, 7, 7, 3]] = 1  # right, right, wrong (7 for 8), wrong (3: a body class)
    table = group_table(scores, labels, synthetic.BENCHMARKS["basic"].groups)
    assert table == {"overall": 0.5, "body": 1.0, "hand": 0.5, "mixed": 0.0}
    fine = synthetic.GROUPS  # the default benchmark's groups
    labels = np.array([fine["body"][0], fine["hand"][0], fine["mixed"][0]])
    scores = np.eye(35)[[fine["body"][0], fine["hand"][1], fine["mixed"][0]]]
    assert group_table(scores, labels) == {"overall": 2 / 3, "body": 1.0, "hand": 0.0, "mixed": 1.0}


def test_branch_rows_of_bharnet_e():
    s = {k: np.eye(3)[[0, 1, 2]] * i for i, k in enumerate(
        ["body_expert", "hand_expert", "body_interactive", "hand_interactive", "logits"], 1)}
    rows = branch_scores("bharnet_e", s)
    np.testing.assert_array_equal(rows["E: interactive branches"], s["body_interactive"] + s["hand_interactive"])
    np.testing.assert_array_equal(rows["E: expert branches (light model)"], s["body_expert"] + s["hand_expert"])


def test_config_is_a_valid_engine_config(tmp_path):
    config = demo_config("bharnet_e", tmp_path / "s.store", tmp_path, init=tmp_path / "x.pt",
                         model_args={"complementary_on": "all"})
    assert config["trainer"]["gradient_clip"] == 5.0 and config["data"]["modality"] == "bone"
    assert config["model"]["args"]["num_classes"] == 35 and config["model"]["args"]["complementary_on"] == "all"
    assert config["eval"]["class_names"] == list(synthetic.CLASS_NAMES)
    basic = demo_config("score_fusion", tmp_path / "s.store", tmp_path, benchmark="basic")
    assert basic["model"]["args"]["num_classes"] == 20 and basic["eval"]["class_names"][7] == "make ok sign"
    assert config["init"] == {"body": str(tmp_path / "x.pt"), "hand": str(tmp_path / "x.pt"), "joint": None,
                              "bone": None}
    with pytest.raises(ValueError, match="unknown demo model"):
        demo_config("nope", "s", tmp_path)
    assert demo_streams("joint+bone") == ("joint", "bone") and demo_streams("bone") == ("bone",)
    for bad in ("jiont", "joint+joint", "joint+"):
        with pytest.raises(ValueError, match="modality must be one of"):
            demo_streams(bad)


def test_demo_runs_is_deterministic_and_reuses_finished_stages(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "a"), "--subjects", "3", "--epochs", "1", "-q"]) == 0
    printed = capsys.readouterr().out
    assert "BHaRNet-E (all branches)" in printed and "body expert (alone)" in printed and "report.md" in printed
    for name in ("report.md", "results.json", "confusion.png", "configs/bharnet_e.yaml",
                 "runs/score_fusion/last.pt", "runs/bharnet_e/scores_last.npz"):
        assert (tmp_path / "a" / name).exists(), name
    first = json.loads((tmp_path / "a" / "results.json").read_text())
    assert set(first["rows"]["bone"]["BHaRNet-E (all branches)"]) == {"overall", "body", "hand", "mixed"}
    assert first["counts"] == {"train": 210, "test": 105} and first["benchmark"] == "fine"

    second = run_demo(tmp_path / "b", subjects=3, epochs=1, progress=False, say=lambda *_: None)
    assert second.rows == first["rows"]  # same seed, same numbers

    said = []
    again = run_demo(tmp_path / "a", subjects=3, epochs=1, progress=False, say=said.append)
    assert any("reusing the finished run" in line for line in said)
    assert again.rows == first["rows"]


def test_joint_and_bone_streams_and_their_ensemble(tmp_path, monkeypatch):
    """``--modality joint+bone``: every model on both streams (its own run folder), and the J+B rows are the
    two streams' scores summed. Training is replaced by fixed scores: this tests the plumbing."""
    import bharnet.demo as demo

    rng = np.random.default_rng(0)
    trained, fake = [], {}

    def fake_train(config, say=print):
        trained.append((config["name"], config["data"]["modality"], config["init"]["body"]))
        n = 105
        keys = (["body", "hand", "logits"] if config["model"]["name"] == "score_fusion" else
                ["body_expert", "hand_expert", "body_interactive", "hand_interactive", "logits"])
        scores = {k: rng.normal(size=(n, 35)) for k in keys}
        fake[config["name"]] = scores
        return dict(scores, _labels=np.arange(n) % 35)

    monkeypatch.setattr(demo, "train_or_reuse", fake_train)
    result = run_demo(tmp_path, subjects=3, epochs=1, modality="joint+bone", progress=False, say=lambda *_: None)
    assert [t[:2] for t in trained] == [("score_fusion_joint", "joint"), ("bharnet_e_joint", "joint"),
                                        ("score_fusion_bone", "bone"), ("bharnet_e_bone", "bone")]
    assert trained[1][2].endswith("score_fusion_joint/last.pt") and trained[3][2].endswith("score_fusion_bone/last.pt")
    assert list(result.rows) == ["joint", "bone", "J+B"]
    labels = np.arange(105) % 35
    both = fake["bharnet_e_joint"]["logits"] + fake["bharnet_e_bone"]["logits"]
    assert result.rows["J+B"]["BHaRNet-E (all branches)"] == group_table(both, labels)
    text = result.table()
    assert text.splitlines()[0].startswith("stream") and "J+B" in text
    assert (tmp_path / "configs" / "bharnet_e_bone.yaml").exists()
