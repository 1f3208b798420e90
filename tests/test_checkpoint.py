import os
import pickle
import random
import stat

import pytest
import torch
from conftest import perturb_

import bharnet
from bharnet import CheckpointError

SMALL = dict(num_classes=5, base_channels=16, num_frames=16)


def test_round_trip_is_exact(tmp_path):
    model = perturb_(bharnet.create_model("bharnet_e", **SMALL)).eval()
    path = bharnet.save_checkpoint(tmp_path / "m.pt", model, extra={"epoch": 3, "note": "x"})
    loaded = bharnet.load_checkpoint(path).eval()
    assert type(loaded) is type(model) and loaded.checkpoint_extra == {"epoch": 3, "note": "x"}
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k
    x = (torch.randn(2, 3, 16, 25, 2), torch.randn(2, 3, 16, 25, 2))
    assert torch.equal(model(*x).logits, loaded(*x).logits)
    # into an existing model too
    other = bharnet.create_model("bharnet_e", **SMALL)
    bharnet.load_checkpoint(path, model=other)
    assert torch.equal(other.state_dict()["body_expert.fc.weight"], model.state_dict()["body_expert.fc.weight"])


def test_light_model_saves_and_reloads(tmp_path):
    light = perturb_(bharnet.create_model("bharnet_e", **SMALL)).light().eval()
    reloaded = bharnet.load_checkpoint(bharnet.save_checkpoint(tmp_path / "light.pt", light)).eval()
    x = (torch.randn(1, 3, 16, 25, 2), torch.randn(1, 3, 16, 25, 2))
    assert torch.equal(light(*x).logits, reloaded(*x).logits)


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_loading_never_executes_pickled_code(tmp_path):
    marker = tmp_path / "pwned"
    evil = _Exploit()
    evil.marker = marker
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "payload": evil}, path)
    with pytest.raises(CheckpointError, match="refused"):
        bharnet.load_checkpoint(path, model=bharnet.create_model("expert", **SMALL))
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump(evil, f)
    with pytest.raises(CheckpointError):
        bharnet.read_checkpoint(tmp_path / "evil.pkl")
    assert not marker.exists()


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        bharnet.read_checkpoint(tmp_path / "missing.pt")
    model = bharnet.create_model("expert", **SMALL)
    good = bharnet.save_checkpoint(tmp_path / "good.pt", model)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated.pt"):
        bharnet.read_checkpoint(truncated)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.pt"):
        bharnet.read_checkpoint(garbage)
    with pytest.raises(CheckpointError, match="do not fit"):
        bharnet.load_checkpoint(good, model=bharnet.create_model("expert", num_classes=9, base_channels=16))
    plain = tmp_path / "plain.pt"
    torch.save(model.state_dict(), plain)
    with pytest.raises(CheckpointError, match="how to build"):
        bharnet.load_checkpoint(plain)
    bharnet.load_checkpoint(plain, model=bharnet.create_model("expert", **SMALL))


def test_random_bytes_and_malformed_checkpoints_give_checkpoint_errors(tmp_path):
    rng = random.Random(0)
    for i in range(60):
        path = tmp_path / f"random{i}.pt"
        path.write_bytes(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 400))))
        with pytest.raises(CheckpointError, match=f"random{i}.pt") as info:
            bharnet.read_checkpoint(path)
        assert "weights_only" not in str(info.value)  # never advise turning the safe loader off
    model = bharnet.create_model("expert", **SMALL)
    good = torch.load(bharnet.save_checkpoint(tmp_path / "good.pt", model), weights_only=True)
    for name, broken in [("state", dict(good, state_dict="weights")), ("recipe", dict(good, model={"kwargs": {}})),
                         ("builds", dict(good, model={"name": "expert", "kwargs": {"num_clases": 3}}))]:
        torch.save(broken, tmp_path / f"{name}.pt")
        with pytest.raises(CheckpointError, match=f"{name}.pt"):
            bharnet.load_checkpoint(tmp_path / f"{name}.pt")


def test_refusal_message_names_the_global_and_gives_no_unsafe_advice(tmp_path):
    evil = _Exploit()
    evil.marker = tmp_path / "pwned"
    torch.save({"payload": evil}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refused.*system.*nothing was run") as info:
        bharnet.read_checkpoint(tmp_path / "evil.pt")
    assert "weights_only" not in str(info.value) and not evil.marker.exists()


def test_saved_checkpoints_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = bharnet.save_checkpoint(tmp_path / "m.pt", bharnet.create_model("expert", **SMALL))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_load_expert_refuses_the_other_streams_expert(tmp_path):
    body = bharnet.create_model("expert", stream="body", **SMALL)
    path = bharnet.save_checkpoint(tmp_path / "body.pt", body)
    model = bharnet.create_model("bharnet_e", **SMALL)
    for source in (path, body):
        with pytest.raises(ValueError, match="body expert; it cannot initialise the hand stream"):
            model.load_expert(source, "hand")
