"""BHaRNet-M: ResNet-18 with torchvision's layout, the ST-ROI image, the skeleton guidance and the assembly."""
import numpy as np
import pytest
import torch
from conftest import needs_mediapipe, require_shared

import bharnet
from bharnet.data.roi import ROI_JOINTS, roi_frame_indices, st_roi_image
from bharnet.models.inputs import example_inputs
from bharnet.models.rgb import BHaRNetM, ResNet18, body_part_weights, load_imagenet_weights, weight_roi


def test_resnet18_has_torchvisions_size_and_names():
    model = ResNet18(1000)
    assert sum(p.numel() for p in model.parameters()) == 11_689_512  # torchvision's resnet18
    keys = model.state_dict()
    assert len(keys) == 122
    for key in ("conv1.weight", "bn1.running_var", "layer1.1.conv2.weight", "layer2.0.downsample.0.weight",
                "layer4.0.downsample.1.num_batches_tracked", "fc.bias"):
        assert key in keys
    assert model(torch.zeros(2, 3, 225, 225)).shape == (2, 1000)


def test_imagenet_weights_load_except_the_classifier(tmp_path):
    imagenet = ResNet18(1000)
    torch.save(imagenet.state_dict(), tmp_path / "resnet18.pth")  # a plain state dict, as torchvision ships
    model = ResNet18(120)
    assert load_imagenet_weights(model, tmp_path / "resnet18.pth") == ["fc.weight", "fc.bias"]
    assert torch.equal(model.layer3[1].conv2.weight, imagenet.layer3[1].conv2.weight)
    with pytest.raises(ValueError, match="unexpected keys"):
        load_imagenet_weights(model, {"backbone.conv1.weight": torch.zeros(1)})


def test_roi_frames_and_patches():
    assert roi_frame_indices(103) == [17, 34, 51, 68, 85]
    frames = []
    colors = np.zeros((103, 2, 25, 2), np.float32)
    for t in range(103):
        frame = np.zeros((1080, 1920, 3), np.uint8)
        for row, joint in enumerate(ROI_JOINTS):
            x, y = 200 + 300 * row, 500
            frame[y - 10:y + 10, x - 10:x + 10] = (40 * (row + 1), t, 0)
            colors[t, 0, joint] = (x, y)
        frames.append(frame)
    picks = roi_frame_indices(103)
    image = st_roi_image([frames[t] for t in picks], colors[picks], normalize=False, size=480)
    assert image.shape == (480, 480, 3)
    for col, t in enumerate(picks):
        for row in range(5):  # each patch is centred on its joint: the marker sits in the patch centre
            centre = image[row * 96 + 48, col * 96 + 48]
            assert centre[0] == 40 * (row + 1) and centre[1] == t
    x = st_roi_image([frames[t] for t in picks], colors[picks])
    assert x.shape == (3, 225, 225) and x.dtype == np.float32
    colors[:, 1] = colors[:, 0]  # a second person: each patch becomes two half-width patches
    two = st_roi_image([frames[t] for t in picks], colors[picks], normalize=False, size=480)
    assert two[48, 24, 0] == 40 and two[48, 72, 0] == 40 and two[48, 48, 0] == 0
    with pytest.raises(ValueError, match="one colour-coordinate set per frame"):
        st_roi_image(frames[:2], colors[:5])


def test_body_part_weights_follow_mmnet():
    f = torch.zeros(2, 2, 4, 8, 25)  # (N, M, C, T', V)
    f[0, 1, :, :, 11] = 1.0  # sample 0: person 1 is the active one, its right hand
    f[0, 1, :, :3, 11] = 3.0  # top-2 of 8 frames
    f[1, 0, :, 5, 3] = 2.0
    w = body_part_weights(f, top_k=2)
    assert w.shape == (2, 5)
    hi = 6.0  # max norm: sqrt(4) * 3
    np.testing.assert_allclose(w[0, 1].item(), 255 / 127, rtol=1e-5)  # right hand of person 1: the max
    np.testing.assert_allclose(w[1, 0].item(), (4.0 / hi * 255 + 0) / 2 / 127, rtol=1e-5)
    assert w[0, 0] == 0 and w[1, 1] == 0
    image = torch.ones(2, 3, 225, 225)
    out = weight_roi(image, w)
    assert torch.allclose(out[0, :, 45:90], w[0, 1].expand(3, 45, 225)) and out[0, :, :45].eq(0).all()


def test_bharnet_m_trains_only_the_rgb_branch():
    model = bharnet.create_model("bharnet_m", num_classes=7, num_frames=16, base_channels=8)
    assert isinstance(model, BHaRNetM)
    body, hand, roi = example_inputs(model, 2)
    body, hand, roi = torch.randn_like(body), torch.randn_like(hand), torch.randn_like(roi)
    bn = model.joint.body_backbone.input_norm.bn
    before = bn.running_mean.clone()
    model.train()
    out = model(body, hand, roi)
    assert out.logits.shape == (2, 7) and set(out.branches) == {"joint", "bone", "rgb"}
    torch.testing.assert_close(out.logits, sum(out.branches.values()))
    bharnet.BHaRNetLoss()(out, torch.tensor([1, 2])).backward()
    assert all(p.grad is None for p in [*model.joint.parameters(), *model.bone.parameters()])
    assert all(p.grad is not None for p in model.rgb.parameters())
    assert torch.equal(bn.running_mean, before)  # the frozen skeleton models stay in eval mode
    # the bone stream is the bone transform of the joints, as the feeders compute it
    model.eval()
    from bharnet.data.transforms import to_bone
    pairs = model.bone.body_backbone.layout.bone_pairs()
    np.testing.assert_allclose(model._bones(body, model.bone.body_backbone)[0].numpy(),
                               to_bone(body[0].numpy(), pairs), atol=1e-6)


def test_bharnet_m_unfrozen_fine_tunes_the_skeleton_models():
    model = bharnet.create_model("bharnet_m", num_classes=7, num_frames=16, base_channels=8, freeze_skeleton=False)
    body, hand, roi = (torch.randn_like(x) for x in example_inputs(model, 2))
    out = model.train()(body, hand, roi)
    assert out.complementary and out.individual == ("rgb",)
    bharnet.BHaRNetLoss()(out, torch.tensor([1, 2])).backward()
    for part in (model.joint, model.bone, model.rgb):
        assert any(p.grad is not None and p.grad.any() for p in part.parameters())


@needs_mediapipe  # OpenCV comes with the extract extra
def test_roi_images_and_rgb_training_path(tmp_path):
    """Real clip -> store (two copies: one train, one test sample) -> `extract-roi` -> `bharnet train` of
    BHaRNet-M from two BHaRNet-E checkpoints: only the RGB branch changes."""
    import yaml

    from bharnet.cli import main
    from bharnet.data.hands import save_hands
    from bharnet.data.roi import load_roi
    from bharnet.data.store import DatasetStore
    from bharnet.datasets.prepare import prepare_ntu

    skeleton = require_shared("ntu", "samples", "S001C001P001R001A001.skeleton")
    video = require_shared("ntu", "samples", "S001C001P001R001A001_rgb.avi")
    raw, videos, hands = tmp_path / "raw", tmp_path / "videos", tmp_path / "hands"
    for d in (raw, videos, hands):
        d.mkdir()
    for name in ("S001C001P001R001A001", "S001C001P003R001A002"):  # P001: X-Sub train, P003: test
        (raw / f"{name}.skeleton").symlink_to(skeleton)
        (videos / f"{name}_rgb.avi").symlink_to(video)
        frames = 103
        save_hands(hands / f"{name}.npz", dict(
            landmarks=np.zeros((frames, 2, 21, 3), np.float32), detected=np.zeros((frames, 2), bool),
            score=np.zeros((frames, 2), np.float32), anchors=np.zeros((frames, 2, 2, 2), np.float32),
            person=np.ones(frames, bool), image_size=np.array([1920, 1080], np.int32)))
    store = tmp_path / "ntu.store"
    prepare_ntu(raw, store, hands_dir=hands, workers=1, progress=False)
    assert main(["data", "extract-roi", str(store), "--videos", str(videos), "-q"]) == 0
    images = load_roi(DatasetStore(store))
    assert images.shape == (2, 225, 225, 3) and images[0].mean() > 20  # real pixels, not black
    np.testing.assert_array_equal(images[0], images[1])
    kw = dict(num_classes=60, num_frames=16, base_channels=8)
    ckpts = {}
    for stream in ("joint", "bone"):
        ckpts[stream] = bharnet.save_checkpoint(tmp_path / f"e_{stream}.pt", bharnet.create_model("bharnet_e", **kw))
    runs = {}
    for name, lr in (("still", 0.0), ("moved", 0.01)):  # same seed: lr 0 keeps the initial RGB weights
        cfg = {"name": name, "out_dir": str(tmp_path / "runs"), "seed": 0,
               "data": {"store": str(store), "protocol": "xsub", "window": 16, "batch_size": 2,
                        "test_batch_size": 2, "num_workers": 0, "streams": ["body", "hand", "roi"],
                        "modality": "joint"},
               "model": {"name": "bharnet_m", "args": kw},
               "init": {"joint": str(ckpts["joint"]), "bone": str(ckpts["bone"])},
               "optim": {"lr": lr}, "schedule": {"warmup_epochs": 0, "milestones": []},
               "trainer": {"epochs": 1, "progress": False, "accelerator": "cpu"}}
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
        assert main(["train", "-c", str(tmp_path / f"{name}.yaml")]) == 0
        runs[name] = bharnet.load_checkpoint(tmp_path / "runs" / name / "last.pt")
    trained = runs["moved"]
    assert isinstance(trained, BHaRNetM)
    init = bharnet.load_checkpoint(ckpts["joint"])
    for key, value in init.state_dict().items():
        assert torch.equal(trained.joint.state_dict()[key], value), key  # frozen: batch-norm statistics too
    assert not torch.equal(trained.rgb.fc.weight, runs["still"].rgb.fc.weight)
