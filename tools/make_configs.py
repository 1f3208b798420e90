"""Write the experiment configs under configs/ (one YAML per dataset / split / model / modality).

    python tools/make_configs.py      # rewrites configs/<dataset>_<split>/*.yaml and configs/_base/<dataset>.yaml

Experts follow the DeGCN recipe (configs/_base/degcn_recipe.yaml). Dual-stream models start from the two
experts of the same dataset, split and modality (init.body / init.hand = their best.pt) and are fine-tuned
for 40 epochs at base lr 0.01 with warm-up 5 + cosine [interpretation: the paper gives no schedule for this
phase; architecture.md §6.3].
"""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1] / "configs"

DATASETS = {
    # name: (store, protocols, classes, class names, eval subset, hands available, persons, body layout)
    "ntu60": ("stores/ntu60.store", ("xsub", "xview"), 60, "ntu60", None, True, 2, "ntu_rgbd"),
    "ntu120": ("stores/ntu120.store", ("xsub", "xset"), 120, "ntu120", "hand_window", True, 2, "ntu_rgbd"),
    "pku_mmd": ("stores/pku_mmd.store", ("xsub", "xview"), 51, None, None, True, 2, "ntu_rgbd"),
    # NW-UCLA hands come from its RGB clips (not in this repository's test data): stores/nw_ucla_hands.store
    "nw_ucla": ("stores/nw_ucla_hands.store", ("xview",), 10, "nw_ucla", None, True, 1, "nw_ucla"),
}
MODALITIES = ("joint", "bone", "joint_motion", "bone_motion")
DUAL = {"joint_training": {}, "cross_attention": {}, "fast_attention": {}, "bharnet_p": {}, "bharnet_e": {}}
HEADER = "# Written by tools/make_configs.py; see configs/README.md.\n"


def dump(path: Path, config: dict, comment: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = HEADER + (f"# {comment}\n" if comment else "") + yaml.safe_dump(config, sort_keys=False,
                                                                          default_flow_style=None)
    path.write_text(text)


def main() -> None:
    written = 0
    for ds, (store, protocols, classes, names, subset, hands, persons, layout) in DATASETS.items():
        data = {"store": store, "sampling": "ucla"} if ds == "nw_ucla" else {"store": store}
        base = {"_base_": "degcn_recipe.yaml", "data": data,
                "eval": {"class_names": names, "subset": subset, "confusion_classes": subset}}
        dump(ROOT / "_base" / f"{ds}.yaml", base, f"{ds}: store and evaluation settings")
        for protocol in protocols:
            folder = ROOT / f"{ds}_{protocol}"
            common = {"_base_": f"../_base/{ds}.yaml", "data": {"protocol": protocol}}
            backbones = ("degcn", "stgcn") if ds == "ntu120" else ("degcn",)
            for backbone in backbones:
                prefix = "" if backbone == "degcn" else f"{backbone}_"
                streams = ("body", "hand") if hands else ("body",)
                for stream in streams:
                    for modality in MODALITIES:
                        args = {"backbone": backbone, "stream": stream, "num_classes": classes}
                        if stream == "body":
                            args.update(layout=layout, num_persons=persons)

                        else:
                            args.update(layout="mediapipe_hand", num_persons=2)
                        cfg = {**common, "data": {**common["data"], "modality": modality, "streams": [stream]},
                               "model": {"name": "expert", "args": args}}
                        dump(folder / f"{prefix}{stream}_expert_{modality}.yaml", cfg,
                             f"{ds} {protocol}: {backbone} {stream} expert, {modality}")
                        written += 1
                if not hands:
                    continue
                models = DUAL if backbone == "degcn" else {"bharnet_e": {}}
                for model, extra in models.items():
                    for modality in ("joint", "bone"):
                        run = f"runs/{ds}_{protocol}"
                        cfg = {**common,
                               "data": {**common["data"], "modality": modality, "streams": ["body", "hand"]},
                               "model": {"name": model, "args": {"backbone": backbone, "num_classes": classes,
                                                                 "body_layout": layout, "num_persons": persons,
                                                                 **extra}},
                               "init": {"body": f"{run}/{prefix}body_expert_{modality}/best.pt",
                                        "hand": f"{run}/{prefix}hand_expert_{modality}/best.pt"},
                               "optim": {"lr": 0.01},
                               "schedule": {"warmup_epochs": 5, "cosine_period": 35, "cosine_min_lr": None,
                                            "milestones": []},
                               "trainer": {"epochs": 40}}
                        dump(folder / f"{prefix}{model}_{modality}.yaml", cfg,
                             f"{ds} {protocol}: {model} ({backbone}), {modality}; fine-tuned from the two experts")
                        written += 1
                if backbone == "degcn" and ds != "nw_ucla":  # BHaRNet-M: the datasets with RGB in Table II
                    run = f"runs/{ds}_{protocol}"
                    cfg = {**common,
                           "data": {**common["data"], "modality": "joint", "streams": ["body", "hand", "roi"]},
                           "model": {"name": "bharnet_m", "args": {"backbone": backbone, "num_classes": classes,
                                                                   "body_layout": layout, "num_persons": persons}},
                           "init": {"joint": f"{run}/bharnet_e_joint/best.pt", "bone": f"{run}/bharnet_e_bone/best.pt"},
                           # MMNet's RGB schedule: lr 0.1, x0.1 at epochs 10 and 50, 80 epochs, weight decay 1e-4
                           "optim": {"lr": 0.1, "weight_decay": 0.0001},
                           "schedule": {"warmup_epochs": 0, "cosine_period": None, "cosine_min_lr": None,
                                        "milestones": [10, 50]},
                           "trainer": {"epochs": 80}}
                    dump(folder / "bharnet_m.yaml", cfg, f"{ds} {protocol}: BHaRNet-M, the RGB stream trained on the "
                         "frozen joint and bone BHaRNet-E (needs `bharnet data extract-roi`)")
                    written += 1
    # The published CTR-GCN schedule on NW-UCLA (65 epochs, window 52, repeat 5, step at 50), DeGCN and CTR-GCN.
    for backbone in ("degcn", "ctrgcn"):
        prefix = "" if backbone == "degcn" else f"{backbone}_"
        cfg = {"_base_": "../_base/nw_ucla.yaml",
               "data": {"store": "stores/nw_ucla.store", "protocol": "xview", "sampling": "ucla", "window": 52,
                        "repeat": 5, "batch_size": 16,
                        "streams": ["body"], "modality": "joint"},
               "model": {"name": "expert", "args": {"backbone": backbone, "stream": "body", "layout": "nw_ucla",
                                                    "num_persons": 1, "num_classes": 10}},
               "optim": {"lr": 0.1, "weight_decay": 0.0001},
               "schedule": {"warmup_epochs": 5, "cosine_period": None, "cosine_min_lr": None, "milestones": [50]},
               "trainer": {"epochs": 65}}
        dump(ROOT / "nw_ucla_xview" / f"{prefix}body_expert_joint_published.yaml", cfg,
             f"NW-UCLA X-View, {backbone} body expert, the published CTR-GCN schedule")
        written += 1
    print(f"wrote {written} configs under {ROOT}")


if __name__ == "__main__":
    main()
