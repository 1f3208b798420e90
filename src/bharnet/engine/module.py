"""The Lightning pieces: one module for every registry model and its loss, one data module over a store."""
from __future__ import annotations

import math
from collections.abc import Iterator

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from ..data.feeder import SkeletonDataset
from ..losses import BHaRNetLoss
from ..models import create_model
from ..models.inputs import batch_inputs
from .metrics import accuracy_report
from .schedule import lr_at

__all__ = ["BHaRNetModule", "SkeletonDataModule", "EpochSampler"]


class EpochSampler(Sampler):
    """A permutation seeded by ``(seed, epoch)`` (or the identity order), split across the processes of a
    distributed run as ``perm[rank::world]`` (padded by wrapping so every rank gets as many items).

    It yields ``(epoch, item)`` pairs, which is how the epoch reaches the dataset's augmentation seed even in
    worker processes. With ``world`` processes and a per-process batch ``B / world``, the union of the ranks'
    k-th batches is the k-th batch of one process with batch ``B``: the same global batches.
    """

    def __init__(self, length: int, seed: int, shuffle: bool, distributed: bool = True):
        self.length, self.seed, self.shuffle, self.distributed = length, seed, shuffle, distributed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:  # called by Lightning before each epoch
        self.epoch = int(epoch)

    def _world(self) -> tuple[int, int]:
        if self.distributed and torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def __len__(self) -> int:
        return math.ceil(self.length / self._world()[1])

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.length, generator=g).tolist()
        else:
            order = list(range(self.length))
        rank, world = self._world()
        total = math.ceil(self.length / world) * world
        order = (order * math.ceil(total / max(len(order), 1)))[:total]
        return iter([(self.epoch, i) for i in order[rank::world]])


class _EpochDataset(torch.utils.data.Dataset):
    """Adapts ``(epoch, item)`` sampler output to :class:`SkeletonDataset`."""

    def __init__(self, dataset: SkeletonDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        epoch, item = key
        self.dataset.set_epoch(epoch)
        return self.dataset[item]


class SkeletonDataModule(L.LightningDataModule):
    """Train / test loaders over one store, from the ``data`` section of a config."""

    def __init__(self, data: dict, seed: int):
        super().__init__()
        self.cfg, self.seed = dict(data), seed
        if not self.cfg.get("store"):
            raise ValueError("data.store is not set: build a store with `bharnet data prepare ...` and give its "
                             "path (data.store=PATH)")
        common = dict(protocol=self.cfg["protocol"], window=self.cfg["window"], modality=self.cfg["modality"],
                      streams=tuple(self.cfg["streams"]), sampling=self.cfg["sampling"],
                      hand_missing=self.cfg["hand_missing"])
        self.train_set = SkeletonDataset(self.cfg["store"], split="train", train=True, seed=seed,
                                         p_interval=tuple(self.cfg["p_interval_train"]), rotation=self.cfg["rotation"],
                                         repeat=self.cfg["repeat"], **common)
        self.test_set = SkeletonDataset(self.train_set.store, split="test", train=False,
                                        p_interval=tuple(self.cfg["p_interval_test"]), **common)

    @property
    def num_classes(self) -> int:
        return self.train_set.store.num_classes

    def preprocessing(self) -> dict[str, str]:
        """What a deployed model must repeat on its inputs beyond the config's data section (saved with
        the checkpoint, so that ``bharnet predict`` does not need the store)."""
        return {"hand_normalization": self.train_set.store.hand_normalization,
                "hand_missing": self.train_set.hand_missing}

    def _loader(self, dataset: SkeletonDataset, batch_size: int, shuffle: bool) -> DataLoader:
        workers = int(self.cfg["num_workers"])
        return DataLoader(_EpochDataset(dataset), batch_size=batch_size,
                          sampler=EpochSampler(len(dataset), self.seed, shuffle), num_workers=workers,
                          persistent_workers=workers > 0, drop_last=False, pin_memory=torch.cuda.is_available())

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.cfg["batch_size"], True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, self.cfg["test_batch_size"], False)

    test_dataloader = val_dataloader


class BHaRNetModule(L.LightningModule):
    """Any registry model + :class:`BHaRNetLoss`, SGD with the DeGCN schedule, and evaluation per branch.

    Validation gathers every process's logits (by dataset index, duplicates of the padded last batch
    dropped) and computes top-1 / top-5 / mean-class accuracy for the fused output (``val/top1``) and for
    every branch (``val/<branch>/top1``).
    """

    def __init__(self, config: dict, num_classes: int):
        super().__init__()
        self.config = config
        args = dict(config["model"]["args"])
        args.setdefault("num_classes", num_classes)
        args.setdefault("num_frames", config["data"]["window"])
        try:
            self.model = create_model(config["model"]["name"], **args)
        except TypeError as e:
            raise ValueError(f"model {config['model']['name']!r}: {e} (check model.args)") from None
        self.criterion = BHaRNetLoss(**config["loss"])
        self._outputs: list[dict] = []
        self.last_metrics: dict = {}

    def configure_model(self) -> None:
        # torch's SyncBatchNorm is GPU-only; on CPU processes (gloo) statistics are synchronised by ours.
        if (self.config["trainer"]["sync_batchnorm"] and self.trainer.world_size > 1
                and not isinstance(self.trainer.accelerator, L.pytorch.accelerators.CUDAAccelerator)):
            from .sync_bn import convert_cpu_sync_batchnorm

            convert_cpu_sync_batchnorm(self.model)

    def forward(self, batch: dict):
        return self.model(*batch_inputs(self.model, batch))

    def on_train_epoch_start(self) -> None:
        # Anything drawing from the global generators (dropout, FAVOR+ feature redraws) replays per epoch,
        # which is what makes a resumed run equal to an uninterrupted one.
        L.seed_everything(self.config["seed"] * 1009 + self.current_epoch, workers=True, verbose=False)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        out = self(batch)
        terms = self.criterion.components(out, batch["label"])
        n = batch["label"].shape[0]
        self.log("train/loss", terms["total"], prog_bar=True, batch_size=n, on_step=True, on_epoch=True)
        for key, value in terms.items():
            if key != "total":
                self.log(f"train/{key}", value, batch_size=n)
        self.log("lr", self.optimizers().param_groups[0]["lr"], prog_bar=True, batch_size=n)
        return terms["total"]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        out = self(batch)
        record = {"index": batch["index"], "label": batch["label"], "logits": out.logits.float()}
        for name, logits in out.branches.items():
            record[f"branch/{name}"] = logits.float()
        self._outputs.append(record)

    test_step = validation_step

    def collect(self) -> dict[str, np.ndarray]:
        """Everything seen since the last call, gathered over processes and de-duplicated, sorted by index."""
        if not self._outputs:
            return {}
        merged = {k: torch.cat([o[k] for o in self._outputs]) for k in self._outputs[0]}
        self._outputs.clear()
        if self.trainer.world_size > 1:
            merged = {k: v.reshape(-1, *v.shape[2:]) for k, v in self.all_gather(merged).items()}
        arrays = {k: v.detach().cpu().numpy() for k, v in merged.items()}
        _, first = np.unique(arrays["index"], return_index=True)
        return {k: v[first] for k, v in arrays.items()}

    def _evaluate(self, stage: str) -> None:
        arrays = self.collect()
        if not arrays:
            return
        labels = arrays["label"]
        metrics = {"logits": accuracy_report(arrays["logits"], labels)}
        for key in arrays:
            if key.startswith("branch/") and len([k for k in arrays if k.startswith("branch/")]) > 1:
                metrics[key.removeprefix("branch/")] = accuracy_report(arrays[key], labels)
        self.last_metrics = dict(metrics=metrics, arrays=arrays, epoch=self.current_epoch)
        fused = metrics["logits"]
        for key in ("top1", "top5", "mean_class"):
            self.log(f"{stage}/{key}", fused[key], prog_bar=key == "top1", sync_dist=False, rank_zero_only=False)
        for branch, m in metrics.items():
            if branch != "logits":
                self.log(f"{stage}/{branch}/top1", m["top1"], sync_dist=False)

    def on_validation_epoch_end(self) -> None:
        self._evaluate("val")

    def on_test_epoch_end(self) -> None:
        self._evaluate("test")

    def configure_optimizers(self):
        o, s = self.config["optim"], self.config["schedule"]
        optimizer = torch.optim.SGD(self.parameters(), lr=o["lr"], momentum=o["momentum"], nesterov=o["nesterov"],
                                    weight_decay=o["weight_decay"])
        base = o["lr"]

        def factor(epoch: int) -> float:
            if not base:  # lr 0: nothing moves (a frozen run)
                return 1.0
            return lr_at(epoch, base, s["warmup_epochs"], s["cosine_period"], s["cosine_min_lr"],
                         tuple(s["milestones"]), s["gamma"]) / base

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["bharnet_config"] = self.config
        checkpoint["bharnet_eval_epoch"] = self.last_metrics.get("epoch", self.current_epoch)
        checkpoint["bharnet_model"] = self.model.bharnet_config
