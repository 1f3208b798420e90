"""The training engine end to end on a tiny synthetic store: a run folder, `bharnet test`, exact resume after
a kill in the middle of an epoch, and two-process DDP (gloo) equal to one process with the same global batch."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from bharnet.checkpoint import read_checkpoint
from bharnet.cli import main
from bharnet.data.sample import Sample
from bharnet.data.store import write_store

ROOT = Path(__file__).resolve().parents[1]


def tiny_store(path: Path, samples: int = 24, classes: int = 3) -> Path:
    rng = np.random.default_rng(0)
    items = []
    for i in range(samples):
        t = int(rng.integers(12, 30))
        label = i % classes
        body = rng.normal(0, 0.1, size=(t, 1, 25, 3)).astype(np.float32)
        body[:, 0, :, label] += np.linspace(0, 1, t)[:, None]  # a class-dependent drift: learnable
        hands = rng.normal(0, 0.1, size=(t, 2, 21, 3)).astype(np.float32)
        items.append((Sample(f"s{i:03d}", label, body, hands), {"xsub": "train" if i < 18 else "test"}))
    return write_store(path, items, splits=("xsub",), num_classes=classes)


def tiny_config(tmp_path: Path, **over) -> Path:
    store = tmp_path / "tiny.store"
    if not store.exists():
        tiny_store(store)
    cfg = {"name": "tiny", "out_dir": str(tmp_path / "runs"), "seed": 3,
           "data": {"store": str(store), "protocol": "xsub", "window": 16, "batch_size": 6, "test_batch_size": 8,
                    "num_workers": 0, "p_interval_train": [0.5, 1.0]},
           "model": {"name": "expert", "args": {"backbone": "degcn", "num_persons": 1, "base_channels": 16}},
           "optim": {"lr": 0.05, "weight_decay": 0.0001},
           "schedule": {"warmup_epochs": 1, "cosine_period": 3, "cosine_min_lr": None, "milestones": []},
           "trainer": {"epochs": 3, "progress": False, "accelerator": "cpu", "log_every_n_steps": 1}}
    for key, value in over.items():
        section, _, name = key.partition("__")
        cfg.setdefault(section, {})[name] = value
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_cli(args: list[str], cwd: Path, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "bharnet", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["state_dict"]


def test_fit_writes_a_complete_run_folder(tmp_path, capsys):
    cfg = tiny_config(tmp_path)
    assert main(["train", "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "last (epoch 3)" in out and "run folder" in out
    run = tmp_path / "runs" / "tiny"
    for name in ("config.yaml", "best.pt", "last.pt", "scores_best.npz", "scores_last.npz", "metrics.json",
                 "report_best.txt", "checkpoints/last.ckpt", "checkpoints/best.ckpt"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["last"]["epoch"] == 2 and metrics["last"]["logits"]["samples"] == 6
    scores = np.load(run / "scores_last.npz")
    assert scores["names"].tolist() == [f"s{i:03d}" for i in range(18, 24)]
    # `bharnet test` on the exported weights reproduces the run's own final evaluation
    assert main(["test", "-c", str(cfg), "--ckpt", str(run / "last.pt"), "--out", str(tmp_path / "t")]) == 0
    again = np.load(tmp_path / "t" / "scores_test_last.npz")
    np.testing.assert_allclose(again["score_logits"], scores["score_logits"], rtol=1e-5, atol=1e-5)
    # a second run into the same folder is refused without --resume / --overwrite
    assert main(["train", "-c", str(cfg)]) == 1
    assert "already holds a run" in capsys.readouterr().err
    # the ensemble of a stream with itself gives the same top-1
    assert main(["ensemble", str(run / "scores_last.npz"), str(run / "scores_last.npz"), "--weights", "1", "1"]) == 0
    assert f"top-1 {100 * metrics['last']['logits']['top1']:.2f}%" in capsys.readouterr().out


KILLER = textwrap.dedent("""
    import os, sys
    import lightning as L
    from bharnet.engine import load_config
    from bharnet.engine.run import fit

    class Kill(L.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if trainer.current_epoch == 1 and batch_idx == 1:
                os._exit(17)  # a hard kill in the middle of epoch 2: no clean-up, no checkpoint

    fit(load_config(sys.argv[1]), callbacks=[Kill()])
""")


def test_resume_after_a_kill_mid_epoch_is_exact(tmp_path):
    straight = tiny_config(tmp_path)
    cfg = yaml.safe_load(straight.read_text())
    cfg["name"] = "straight"
    straight.write_text(yaml.safe_dump(cfg))
    assert run_cli(["train", "-c", str(straight)], tmp_path).returncode == 0

    cfg["name"] = "killed"
    killed = tmp_path / "killed.yaml"
    killed.write_text(yaml.safe_dump(cfg))
    (tmp_path / "killer.py").write_text(KILLER)
    proc = subprocess.run([sys.executable, str(tmp_path / "killer.py"), str(killed)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 17, proc.stderr[-2000:]
    run = tmp_path / "runs" / "killed"
    assert (run / "checkpoints" / "last.ckpt").is_file() and not (run / "last.pt").exists()
    resumed = run_cli(["train", "-c", str(killed), "--resume"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = weights(tmp_path / "runs" / "straight" / "last.pt"), weights(run / "last.pt")
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=1e-6, msg=key)
    ma = json.loads((tmp_path / "runs" / "straight" / "metrics.json").read_text())["last"]["logits"]
    mb = json.loads((run / "metrics.json").read_text())["last"]["logits"]
    assert ma["top1"] == mb["top1"] and ma["top5"] == mb["top5"]


def test_two_process_ddp_equals_one_process(tmp_path):
    """2 gloo processes x batch 4 == 1 process x batch 8, BN statistics synchronised over the processes.
    In float64: in float32 the two reduction orders differ by rounding, which tiny batches amplify."""
    one = tiny_config(tmp_path)
    cfg = yaml.safe_load(one.read_text())
    cfg["name"], cfg["data"]["batch_size"], cfg["trainer"]["epochs"] = "one", 8, 2
    cfg["trainer"]["precision"] = "64-true"
    cfg["schedule"]["cosine_period"] = 2
    one.write_text(yaml.safe_dump(cfg))
    r1 = run_cli(["train", "-c", str(one)], tmp_path)
    assert r1.returncode == 0, r1.stderr[-3000:]
    cfg["name"], cfg["data"]["batch_size"] = "two", 4
    cfg["trainer"].update(devices=2, strategy="ddp")
    two = tmp_path / "two.yaml"
    two.write_text(yaml.safe_dump(cfg))
    r2 = run_cli(["train", "-c", str(two)], tmp_path)
    assert r2.returncode == 0, r2.stderr[-3000:]
    a, b = weights(tmp_path / "runs" / "one" / "last.pt"), weights(tmp_path / "runs" / "two" / "last.pt")
    assert a.keys() == b.keys()
    worst = max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point())
    assert worst < 1e-6, worst
    moved = max(float((a[k].double()).abs().max()) for k in a if "running_mean" in k)
    assert moved > 0  # BN statistics were updated (the runs trained)


@pytest.mark.parametrize("bad, message", [
    (["optim.lrr=1"], "unknown config key 'optim.lrr'"),
    (["data.store=nowhere.store"], "no dataset store here"),
    (["model.args.nonsense=1"], "check model.args"),
])
def test_train_cli_errors(tmp_path, capsys, bad, message):
    cfg = tiny_config(tmp_path)
    assert main(["train", "-c", str(cfg), *bad]) == 1
    assert message in capsys.readouterr().err


def test_two_phase_dual_stream_run_reports_every_branch(tmp_path):
    """Phase 2: BHaRNet-E initialised from a body and a hand expert, trained on body + hands; the report has
    every branch's accuracy and the backbones started from the experts."""
    import bharnet
    from bharnet.engine import load_config
    from bharnet.engine.module import BHaRNetModule
    from bharnet.engine.run import fit

    experts = {}
    for stream, layout, persons in (("body", "ntu_rgbd", 1), ("hand", "mediapipe_hand", 2)):
        model = bharnet.create_model("expert", backbone="degcn", num_classes=3, num_frames=16, base_channels=16,
                                     stream=stream, layout=layout, num_persons=persons)
        experts[stream] = bharnet.save_checkpoint(tmp_path / f"{stream}.pt", model)
    cfg = tiny_config(tmp_path)
    overrides = ["model.name=bharnet_e", "model.args={backbone: degcn, base_channels: 16, num_persons: 1, "
                 "heads: 2, dim_head: 8}", "data.streams=[body, hand]", f"init.body={experts['body']}",
                 f"init.hand={experts['hand']}", "trainer.epochs=1", "trainer.limit_train_batches=1"]
    config = load_config(cfg, overrides)
    module = BHaRNetModule(config, 3)
    module.model.load_expert(experts["body"], "body")
    body_state = bharnet.read_checkpoint(experts["body"])["state_dict"]
    for key, value in module.model.body_backbone.state_dict().items():
        torch.testing.assert_close(value, body_state[f"backbones.0.{key}"], rtol=0, atol=0)
    config["data"]["hand_missing"] = "zero"
    report = fit(config)
    branches = set(report["last"]) - {"epoch"}
    assert {"logits", "body_expert", "hand_expert", "body_interactive", "hand_interactive"} <= branches, branches
    # the hand preprocessing travels with the weights, so that `bharnet predict` repeats it without the store
    from bharnet.deploy.predict import Predictor

    ckpt = tmp_path / "runs" / config["name"] / "last.pt"
    extra = bharnet.load_checkpoint(ckpt).checkpoint_extra
    assert extra["preprocessing"] == {"hand_normalization": "palm", "hand_missing": "zero"}
    spec = Predictor(ckpt).spec
    assert (spec.hand_normalization, spec.hand_missing) == ("palm", "zero")


def test_persistent_loader_workers_train_exactly_as_the_main_process(tmp_path):
    """Worker processes live for the whole run (a respawn per epoch doubled a small run's time); the epoch still
    reaches their augmentation through the sampler's keys, so the weights equal a run without workers."""
    runs = {}
    for workers in (0, 2):
        cfg = tiny_config(tmp_path, data__num_workers=workers, trainer__epochs=2)
        assert main(["train", "-c", str(cfg), f"name=w{workers}"]) == 0
        runs[workers] = weights(tmp_path / "runs" / f"w{workers}" / "last.pt")
    assert runs[0].keys() == runs[2].keys()
    for key in runs[0]:
        assert torch.equal(runs[0][key], runs[2][key]), key
