"""Configs, the learning-rate schedule, metrics, score ensembles, the epoch sampler and CPU SyncBatchNorm."""
import math

import numpy as np
import pytest
import torch
import yaml

from bharnet.engine import ConfigError, dump_config, load_config, lr_at
from bharnet.engine.metrics import accuracy_report, ensemble_scores, load_scores, save_scores
from bharnet.engine.module import EpochSampler
from bharnet.engine.sync_bn import CPUSyncBatchNorm, convert_cpu_sync_batchnorm


def test_config_layers_and_errors(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("optim: {lr: 0.2}\ndata: {window: 32}\n")
    cfg = tmp_path / "configs" / "ds" / "exp.yaml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("_base_: ../../base.yaml\ndata: {store: s}\nmodel: {name: bharnet_e, args: {heads: 4}}\n")
    c = load_config(cfg, ["optim.weight_decay=0.001", "data.streams=[body, hand]", "model.args.fusion=noisy_or"])
    assert c["optim"] == {"lr": 0.2, "momentum": 0.9, "nesterov": True, "weight_decay": 0.001}
    assert c["data"]["window"] == 32 and c["data"]["store"] == "s" and c["data"]["streams"] == ["body", "hand"]
    assert c["model"]["args"] == {"heads": 4, "fusion": "noisy_or"}
    assert c["name"] == "ds/exp"  # named by its path under configs/
    assert yaml.safe_load(dump_config(c)) == c  # --print-config prints everything, losslessly
    with pytest.raises(ConfigError, match="unknown config key 'optim.lrr' \\(did you mean 'optim.lr'\\?\\)"):
        load_config(cfg, ["optim.lrr=1"])
    with pytest.raises(ConfigError, match="unknown config key 'trainer.epoch'"):
        load_config(cfg, ["trainer.epoch=3"])
    with pytest.raises(ConfigError, match="is a section"):
        load_config(cfg, ["optim=3"])
    with pytest.raises(ConfigError, match="KEY|section.key=value"):
        load_config(cfg, ["optim.lr"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {windw: 3}\n")
    with pytest.raises(ConfigError, match="unknown config key 'data.windw' \\(did you mean 'data.window'\\?\\)"):
        load_config(bad)
    bad.write_text("data: [1, 2\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    for override, message in [("optim.lr=fast", "'optim.lr' must be a number, got 'fast'"),
                              ("trainer.epochs=ten", "'trainer.epochs' must be an integer"),
                              ("data.streams=body", "'data.streams' must be a list"),
                              ("trainer.progress=1", "'trainer.progress' must be true or false"),
                              ("data.batch_size=0", "'data.batch_size' must be at least 1")]:
        with pytest.raises(ConfigError, match=message):
            load_config(cfg, [override])
    bad.write_text("optim: {nesterov: yes please}\n")
    with pytest.raises(ConfigError, match="'optim.nesterov' must be true or false"):
        load_config(bad)
    # numbers for float keys, null to switch an option off, Lightning's free-typed options untouched
    c = load_config(cfg, ["optim.lr=1", "schedule.cosine_period=null", "trainer.devices=[0, 1]",
                          "trainer.precision=16"])
    assert c["optim"]["lr"] == 1 and c["schedule"]["cosine_period"] is None and c["trainer"]["devices"] == [0, 1]


def test_shipped_configs_load():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "configs"
    files = [p for p in root.rglob("*.yaml") if not p.parent.name.startswith("_")]
    assert len(files) >= 50
    for path in files:
        c = load_config(path)
        assert c["model"]["name"] and c["data"]["store"], path


def test_degcn_schedule():
    lrs = [lr_at(e, 0.1) for e in range(80)]
    np.testing.assert_allclose(lrs[:5], [0.02, 0.04, 0.06, 0.08, 0.1])
    for e in range(5, 53):
        assert lrs[e] == pytest.approx(0.05 * (1 + math.cos(math.pi * (e - 5) / 60))) and lrs[e] > 0.01
    assert lrs[53:60] == pytest.approx([0.01] * 7)
    assert lrs[60:75] == pytest.approx([1e-3] * 15)
    assert lrs[75:] == pytest.approx([1e-4] * 5)


def test_cpu20_schedule():
    kw = dict(warmup_epochs=3, cosine_period=17, cosine_min_lr=None, milestones=[])
    lrs = [lr_at(e, 0.1, **kw) for e in range(20)]
    np.testing.assert_allclose(lrs[:3], [0.1 / 3, 0.2 / 3, 0.1])
    np.testing.assert_allclose(lrs[3:], [0.05 * (1 + math.cos(math.pi * (e - 3) / 17)) for e in range(3, 20)])
    assert lrs[3] == pytest.approx(0.1) and lr_at(20, 0.1, **kw) == pytest.approx(0.1)  # past the cosine: base


def test_accuracy_report():
    scores = np.array([[3, 1, 0, 0, 0, 0], [0, 2, 1, 0, 0, 0], [0, 3, 2, 0, 0, 0], [1, 1, -1, 1, 1, 5.0]])
    labels = np.array([0, 1, 2, 2])
    r = accuracy_report(scores, labels, 6, subset=("two", [2]))
    assert r["top1"] == 0.5 and r["top5"] == 0.75
    assert r["per_class"][:3] == [1.0, 1.0, 0.0] and r["per_class"][3] is None
    assert r["mean_class"] == pytest.approx(2 / 3) and r["top1_two"] == 0.0 and r["samples_two"] == 2


def test_ensemble_matches_by_name(tmp_path):
    rng = np.random.default_rng(0)
    names = [f"s{i}" for i in range(20)]
    labels = rng.integers(0, 5, 20)
    a, b = rng.normal(size=(20, 5)), rng.normal(size=(20, 5))
    save_scores(tmp_path / "a.npz", names, labels, {"logits": a})
    perm = rng.permutation(20)  # the second file lists the samples in another order
    save_scores(tmp_path / "b.npz", [names[i] for i in perm], labels[perm], {"logits": b[perm]})
    got_names, got_labels, fused, info = ensemble_scores([tmp_path / "a.npz", tmp_path / "b.npz"], [1.0, 0.5])
    order = np.argsort(names)
    np.testing.assert_array_equal(got_names, np.array(names)[order])
    np.testing.assert_allclose(fused, (a + 0.5 * b)[order], rtol=1e-6)
    np.testing.assert_array_equal(got_labels, labels[order])
    assert info[0]["top1"] == pytest.approx((a.argmax(1) == labels).mean())
    save_scores(tmp_path / "c.npz", names[:-1], labels[:-1], {"logits": b[:-1]})
    with pytest.raises(ValueError, match="1 samples of .* are missing"):
        ensemble_scores([tmp_path / "a.npz", tmp_path / "c.npz"])
    assert len(ensemble_scores([tmp_path / "a.npz", tmp_path / "c.npz"], allow_missing=True)[0]) == 19
    wrong = labels.copy()
    wrong[3] = (wrong[3] + 1) % 5
    save_scores(tmp_path / "d.npz", names, wrong, {"logits": b})
    with pytest.raises(ValueError, match="labels disagree .* \\['s3'\\]"):
        ensemble_scores([tmp_path / "a.npz", tmp_path / "d.npz"])
    np.savez(tmp_path / "e.npz", x=np.zeros(3))
    with pytest.raises(Exception, match="not a score file"):
        load_scores(tmp_path / "e.npz")


def test_epoch_sampler_is_a_seeded_permutation():
    s = EpochSampler(10, seed=3, shuffle=True)
    first = list(s)
    assert sorted(i for _, i in first) == list(range(10)) and all(e == 0 for e, _ in first)
    assert list(s) == first
    s.set_epoch(1)
    second = list(s)
    assert [i for _, i in second] != [i for _, i in first] and all(e == 1 for e, _ in second)
    assert [i for _, i in EpochSampler(4, 0, shuffle=False)] == [0, 1, 2, 3]


def test_cpu_sync_batchnorm_is_batchnorm_in_one_process():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4))
    ref = torch.nn.BatchNorm2d(4)
    ref.weight.data.uniform_()
    net[1].load_state_dict(ref.state_dict())
    conv = convert_cpu_sync_batchnorm(net)
    assert isinstance(conv[1], CPUSyncBatchNorm)
    x = torch.randn(6, 3, 5, 7)
    torch.testing.assert_close(conv[1](conv[0](x)), ref(conv[0](x)))
