"""The training engine's overhead: samples/s of `bharnet.engine` (Lightning) against a bare PyTorch loop over
the same model, data, sampler, loss and optimiser, measured in the same process, alternating the two.

    python benchmarks/bench_engine.py                     # DeGCN body expert, NTU-like synthetic store
    python benchmarks/bench_engine.py --base-channels 32 --steps 10 --rounds 3

The engine runs as `bharnet train` configures it (progress bar off, CSV logging on, checkpoint at the end
of the epoch); its first round also pays Lightning's set-up, so the ratio uses the median over rounds.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bharnet.data.sample import Sample
from bharnet.data.store import write_store
from bharnet.engine import load_config
from bharnet.engine.module import BHaRNetModule, SkeletonDataModule
from bharnet.engine.run import _trainer
from bharnet.models.inputs import batch_inputs


def make_store(path: Path, samples: int) -> Path:
    rng = np.random.default_rng(0)
    items = [(Sample(f"s{i:04d}", i % 60, rng.normal(size=(int(rng.integers(60, 200)), 2, 25, 3)).astype(np.float32)),
              {"xsub": "train" if i % 5 else "test"}) for i in range(samples)]
    return write_store(path, items, splits=("xsub",), num_classes=60)


def bare_loop(config: dict, data: SkeletonDataModule, steps: int) -> float:
    module = BHaRNetModule(config, data.num_classes)
    model, criterion = module.model.train(), module.criterion
    o = config["optim"]
    optimizer = torch.optim.SGD(model.parameters(), lr=o["lr"], momentum=o["momentum"], nesterov=o["nesterov"],
                                weight_decay=o["weight_decay"])
    loader = data.train_dataloader()
    loader.sampler.set_epoch(0)
    n, start = 0, time.perf_counter()
    for i, batch in enumerate(loader):
        if i == steps:
            break
        loss = criterion(model(*batch_inputs(model, batch)), batch["label"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        n += batch["label"].shape[0]
    return n / (time.perf_counter() - start)


def engine(config: dict, data: SkeletonDataModule, steps: int, folder: Path) -> float:
    config = dict(config, trainer=dict(config["trainer"], epochs=1, limit_train_batches=steps, eval_every=1000,
                                       progress=False))
    module = BHaRNetModule(config, data.num_classes)
    trainer = _trainer(config, folder)
    start = time.perf_counter()
    trainer.fit(module, datamodule=data)
    return steps * config["data"]["batch_size"] / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-channels", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store = make_store(tmp / "s.store", 400)
        model = f"{{backbone: degcn, num_classes: 60, base_channels: {args.base_channels}}}"
        config = load_config(None, [f"data.store={store}", f"data.batch_size={args.batch_size}", "data.num_workers=0",
                                    f"model.args={model}", f"out_dir={tmp}/runs", "name=bench"])
        data = SkeletonDataModule(config["data"], seed=config["seed"])
        bare, eng = [], []
        for r in range(args.rounds):
            bare.append(bare_loop(config, data, args.steps))
            eng.append(engine(config, data, args.steps, tmp / "runs" / f"r{r}"))
            print(f"round {r + 1}: bare loop {bare[-1]:.2f} samples/s, engine {eng[-1]:.2f} samples/s")
    b, e = statistics.median(bare), statistics.median(eng)
    print(f"median over {args.rounds} rounds ({args.steps} steps of batch {args.batch_size}, DeGCN expert width "
          f"{args.base_channels}): bare {b:.2f} samples/s, engine {e:.2f} samples/s -> engine/bare = {e / b:.3f}")


if __name__ == "__main__":
    main()
