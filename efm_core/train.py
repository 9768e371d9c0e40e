"""Algorithm 1: the training loop, shared by EFM and the baselines (``Trainer``).

Each step draws ``n_charges`` fresh items of each plate's source (the large batch of charges), builds training
points from the first ``n_queries`` pairs, and takes one Adam step on the objective:

the loss of ``objectives.make_objective`` (EFM, flow matching, PFGM or PFGM++; PFGM and PFGM++ on the data of P
alone).

The loop has a linear warm-up, optional cosine decay, gradient clipping, an exponential moving average of the
weights (used for sampling), seeded generators (data on the CPU, training-point noise on the device; one stream per
DDP rank), a CSV loss log, a progress bar, a callback after every step that may stop the run, chunked stepping
(``trainer.step(k)``, e.g. from a Streamlit fragment) and exact resume from a checkpoint with training state.
"""

from __future__ import annotations

import copy
import csv
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from . import distributed
from .checkpoints import (
    NET_PREFIX,
    TRAIN_PREFIX,
    CheckpointError,
    build_model,
    load_into,
    load_tensors,
    net_state,
    save_checkpoint,
)
from .config import ExperimentConfig
from .data.sources import Source, as_source
from .objectives import make_objective

StepCallback = Callable[["Trainer", dict], bool | None]
LOG_FIELDS = ("step", "loss", "lr", "grad_norm", "seconds")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> CUDA if available else CPU; 'cpu', 'cuda', 'cuda:1' as given (ValueError if CUDA is missing)."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, str) or device.split(":")[0] not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto'; got {device!r}.")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available; use --device cpu or auto.")
    return torch.device(device)


def lr_factor(step: int, config: ExperimentConfig) -> float:
    """Learning-rate multiplier at 0-based ``step``: linear warm-up over ``warmup`` steps, then constant or a
    cosine decay to ``min_lr_ratio`` at ``steps``."""
    if step < config.warmup:
        return (step + 1) / config.warmup
    if config.lr_schedule == "constant":
        return 1.0
    span = max(1, config.steps - config.warmup)
    progress = min(1.0, (step - config.warmup) / span)
    return config.min_lr_ratio + (1.0 - config.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class Trainer:
    """Train the net of ``config``; ``step(k)`` runs k steps, ``run()`` all remaining ones.

    p_data, q_data: the plates' items held in memory (a tensor (n, *shape), drawn as a finite set, or a
    ``data.sources.Source``) instead of reading what ``config.p`` / ``config.q`` name, e.g. for a ``memory`` spec
    (``data.sources``); checked against the spec's shape and range. device: 'cpu', 'cuda' or 'auto'. callback: called as ``callback(trainer, record)`` after every step; return
    False (or call ``request_stop()``) to stop. log_path: CSV loss log (appended; rank 0 only). dist: a
    ``distributed.DistContext`` for DDP (see ``distributed.init_distributed``).
    Attributes: ``net`` (raw weights), ``ema`` (averaged weights, used for sampling), ``step_count``, ``history``
    (list of records: step, loss, lr, grad_norm, seconds), ``seconds`` (training wall time).
    """

    def __init__(
        self,
        config: ExperimentConfig,
        *,
        p_data: Tensor | Source | None = None,
        q_data: Tensor | Source | None = None,
        device: str | torch.device = "auto",
        callback: StepCallback | None = None,
        log_path: str | os.PathLike | None = None,
        dist: distributed.DistContext | None = None,
    ) -> None:
        self.config = config
        self.dist = dist
        self.device = distributed.device_for(dist, resolve_device(device))
        self.objective = make_objective(config)
        if config.q is None and q_data is not None:
            raise ValueError(f"the {config.objective} objective has data on one plate only: pass no q_data.")
        self.p_source = as_source(p_data, config.p, "P")
        self.q_source = as_source(q_data, config.q, "Q") if config.q is not None else None
        if self.q_source is not None and self.q_source.shape != self.p_source.shape:
            raise ValueError(f"P and Q data must have the same shape; got {self.p_source.shape} and "
                             f"{self.q_source.shape}.")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.net = build_model(config, tuple(self.p_source.shape)).to(self.device)
        self.ema = copy.deepcopy(self.net).requires_grad_(False).eval()
        self.model: nn.Module = self.net
        if dist is not None:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = nn.parallel.DistributedDataParallel(self.net, device_ids=ids)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        rank = dist.rank if dist is not None else 0
        self.data_generator = torch.Generator().manual_seed(config.seed * 1_000_003 + 1 + rank)
        self.noise_generator = torch.Generator(device=self.device).manual_seed(config.seed * 1_000_003 + 500_001 + rank)
        self.callback = callback
        self.log_path = Path(log_path) if log_path is not None else None
        self.step_count = 0
        self.history: list[dict] = []
        self.seconds = 0.0
        self.cpu_seconds = 0.0  # process CPU time of the steps (all threads), for the model card's cpu_minutes
        self._stop = False

    @property
    def is_main(self) -> bool:
        return self.dist is None or self.dist.is_main

    @property
    def done(self) -> bool:
        """True once all ``config.steps`` are done or a stop was requested."""
        return self._stop or self.step_count >= self.config.steps

    def request_stop(self) -> None:
        """Stop before the next step (from a callback or another thread, e.g. an app's stop button)."""
        self._stop = True

    def _draw(self) -> tuple[Tensor, Tensor | None]:
        n = self.config.n_charges
        p = self.p_source.sample(n, self.data_generator).to(self.device)
        q = self.q_source.sample(n, self.data_generator).to(self.device) if self.q_source is not None else None
        return p, q

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = min(self.config.ema, (1 + self.step_count) / (10 + self.step_count))
        for e, p in zip(self.ema.parameters(), self.net.parameters(), strict=True):
            e.lerp_(p, 1.0 - decay)
        for e, b in zip(self.ema.buffers(), self.net.buffers(), strict=True):
            e.copy_(b)

    def step(self, k: int = 1) -> list[dict]:
        """Run up to ``k`` training steps (fewer if the run is done or stopped); returns their log records."""
        records = []
        self.net.train()
        for _ in range(k):
            if self.done:
                break
            start, cpu_start = time.perf_counter(), time.process_time()
            lr = self.config.lr * lr_factor(self.step_count, self.config)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            p, q = self._draw()
            loss = self.objective(self.model, p, q, self.noise_generator)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss.item()} at step {self.step_count}; lower lr or check the data.")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            clip = self.config.grad_clip if self.config.grad_clip > 0 else math.inf
            grad_norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), clip)
            self.optimizer.step()
            self.step_count += 1
            self._update_ema()
            self.seconds += time.perf_counter() - start
            self.cpu_seconds += time.process_time() - cpu_start
            record = {
                "step": self.step_count,
                "loss": distributed.mean_over_ranks(float(loss.item()), self.dist, self.device),
                "lr": lr,
                "grad_norm": float(grad_norm),
                "seconds": round(self.seconds, 4),
            }
            self.history.append(record)
            records.append(record)
            self._log(record)
            if self.callback is not None and self.callback(self, record) is False:
                self._stop = True
        return records

    def run(self, progress: bool = True) -> list[dict]:
        """Train until ``config.steps`` (or a stop); a tqdm bar on rank 0 when ``progress``. Returns the history."""
        from tqdm.auto import tqdm

        bar = tqdm(total=self.config.steps, initial=self.step_count, disable=not (progress and self.is_main), desc=self.config.name)
        try:
            while not self.done:
                for record in self.step(1):
                    bar.update(1)
                    if record["step"] % 10 == 0 or self.done:
                        bar.set_postfix(loss=f"{record['loss']:.4f}")
        finally:
            bar.close()
        return self.history

    def _log(self, record: dict) -> None:
        if self.log_path is None or not self.is_main:
            return
        new = not self.log_path.exists() or self.log_path.stat().st_size == 0
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=LOG_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(record)

    # --- checkpoints ---------------------------------------------------------------------------------------------

    def state_tensors(self, train_state: bool = True) -> dict[str, Tensor]:
        """Tensors to save: the EMA weights as ``net.*``; with ``train_state`` also the raw weights, Adam's moments
        and both generators' states under ``train.*``."""
        tensors = {NET_PREFIX + k: v.detach().clone() for k, v in self.ema.state_dict().items()}
        if train_state:
            tensors.update({f"{TRAIN_PREFIX}net.{k}": v.detach().clone() for k, v in self.net.state_dict().items()})
            for i, state in self.optimizer.state_dict()["state"].items():
                for name, value in state.items():
                    tensors[f"{TRAIN_PREFIX}adam.{i}.{name}"] = torch.as_tensor(value).detach().clone()
            tensors[f"{TRAIN_PREFIX}rng.data"] = self.data_generator.get_state()
            tensors[f"{TRAIN_PREFIX}rng.noise"] = self.noise_generator.get_state()
        return tensors

    def save(self, path: str | os.PathLike, metrics: dict | None = None, train_state: bool = True) -> Path | None:
        """Write ``path``.safetensors + ``path``.json (rank 0 only; other ranks wait). Returns the JSON path on rank 0."""
        written = None
        if self.is_main:
            extra = {
                "train_seconds": round(self.seconds, 2),
                "cpu_minutes": round(self.cpu_seconds / 60.0, 2) if self.device.type == "cpu" else None,
                "device": str(self.device),
                "world_size": self.dist.world_size if self.dist is not None else 1,
                "final_loss": self.history[-1]["loss"] if self.history else None,
            }
            data = {"p": self.p_source.info, "q": None if self.q_source is None else self.q_source.info}
            written = save_checkpoint(path, self.config, self.state_tensors(train_state), steps=self.step_count,
                                      metrics=metrics, extra=extra, data=data)[1]
        distributed.barrier(self.dist)
        return written

    def resume(self, path: str | os.PathLike) -> None:
        """Continue from a checkpoint with training state written by ``save`` for the same config (``steps`` may
        differ, to train longer). Restores weights, EMA, Adam, step count, training time and (single process) the
        generators, so that the continued run is bit-identical to an uninterrupted one."""
        card, tensors = load_tensors(path)
        name = Path(path).name
        saved = ExperimentConfig.from_dict(card["config"]).to_dict()
        mine = self.config.to_dict()
        diff = sorted(k for k in mine if k not in ("steps", "description") and saved.get(k) != mine[k])
        if diff:
            raise CheckpointError(f"{name}: cannot resume, its config differs in {diff}.")
        if not card.get("has_train_state"):
            raise CheckpointError(f"{name} holds no training state (saved without it); start a new run instead.")
        load_into(self.ema, {k: v.to(self.device) for k, v in net_state(tensors).items()}, name)
        load_into(self.net, {k: v.to(self.device) for k, v in net_state(tensors, TRAIN_PREFIX + "net.").items()}, name)
        adam = self.optimizer.state_dict()
        state: dict[int, dict] = {}
        for key, value in net_state(tensors, TRAIN_PREFIX + "adam.").items():
            index, field = key.split(".", 1)
            state.setdefault(int(index), {})[field] = value if field == "step" else value.to(self.device)
        adam["state"] = state
        self.optimizer.load_state_dict(adam)
        self.step_count = int(card["steps"])
        if self.dist is None or self.dist.world_size == 1:
            self.data_generator.set_state(tensors[TRAIN_PREFIX + "rng.data"])
            self.noise_generator.set_state(tensors[TRAIN_PREFIX + "rng.noise"])
        else:  # only rank 0's streams were saved: give every rank a fresh stream of its own (not bit-exact)
            rank, base = self.dist.rank, self.config.seed * 1_000_003 + 7_919 * self.step_count
            self.data_generator.manual_seed(base + 1 + rank)
            self.noise_generator.manual_seed(base + 500_001 + rank)
        self.seconds = float(card.get("train_seconds") or 0.0)
        self.cpu_seconds = 60.0 * float(card.get("cpu_minutes") or 0.0)
