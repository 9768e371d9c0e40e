"""The project's small digits classifier: reads 8x8 digits for the metrics (confidence, class shares, Frechet distance).

A three-layer CNN (about 90 k parameters) trained on the train half of ``digits_split()`` (scikit-learn's digits, no
download). Its weights ship as ``pretrained/digits-classifier.safetensors`` + ``.json`` (model card with the test
accuracy) so that every metric is the same on every machine; ``python -m efm_core.classifier`` retrains them
deterministically on CPU in well under a minute and rewrites both files.

Inputs are images (n, 1, 8, 8), (n, 8, 8) or (n, 64) in [-1, 1]; RGB images (n, 3, 8, 8) are read through their grey
version (max over channels, see ``data.images.grey``). Pixels are clipped to [-1, 1] as an image display would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .data.images import digits_split, shift_images

FORMAT_VERSION = 1
FEATURE_DIM = 128
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "pretrained" / "digits-classifier"
FASHION_PATH = DEFAULT_PATH.with_name("fashion-classifier")
FASHION_RETRAIN = "python -m efm_core.classifier fashion"


class DigitsCNN(nn.Module):
    """Conv(1->32) -> Conv(32->64) -> pool -> Conv(64->64) -> pool -> Linear(256->128) = features -> Linear(128->10)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.SiLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1),
            nn.SiLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(256, FEATURE_DIM),
            nn.SiLU(),
        )
        self.head = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features (n, 128) of images (n, 1, 8, 8)."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (n, 10) of images (n, 1, 8, 8)."""
        return self.head(self.body(x))


def as_digit_batch(images: object) -> Tensor:
    """Images as a float32 CPU tensor (n, 1, 8, 8) clipped to [-1, 1]; accepts (n, 64), (n, 8, 8), (n, C, 8, 8)."""
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, Tensor) else images).detach()
    x = x.to(device="cpu", dtype=torch.float32)
    if x.ndim == 2 and x.shape[1] == 64:
        x = x.reshape(-1, 1, 8, 8)
    elif x.ndim == 3 and x.shape[1:] == (8, 8):
        x = x[:, None]
    if x.ndim != 4 or x.shape[2:] != (8, 8) or x.shape[1] not in (1, 3):
        raise ValueError(
            f"digit images must have shape (n, 1, 8, 8), (n, 3, 8, 8), (n, 8, 8) or (n, 64); got {tuple(x.shape)}."
        )
    if not torch.isfinite(x).all():
        raise ValueError("digit images contain NaN or infinite pixels; drop those samples before classifying them.")
    return x.amax(dim=1, keepdim=True).clamp(-1.0, 1.0)


def _augment(x: Tensor, g: torch.Generator) -> Tensor:
    """Training augmentation: a random shift of up to one pixel (half the batch) and mild Gaussian pixel noise."""
    shifted = shift_images(x, g, max_shift=1)
    keep = torch.rand(x.shape[0], 1, 1, 1, generator=g) < 0.5
    x = torch.where(keep, x, shifted)
    return (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(-1.0, 1.0)


def accuracy(model: nn.Module, images: Tensor, labels: Tensor, prepare: object = None) -> float:
    """Share of ``images`` whose argmax class equals ``labels`` (n,); ``prepare`` turns them into the model's batch
    (default ``as_digit_batch``: digits (n, 1, 8, 8))."""
    prepare = as_digit_batch if prepare is None else prepare
    with torch.no_grad():
        x = prepare(images)
        return float((torch.cat([model(c) for c in x.split(2048)]).argmax(1) == labels).float().mean())


def _fit(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    augment: Callable[[Tensor, torch.Generator], Tensor],
    epochs: int,
    batch_size: int,
    g: torch.Generator,
    schedule: Callable[[torch.optim.Optimizer, int], torch.optim.lr_scheduler.LRScheduler],
    lr: float,
) -> float:
    """Train ``model`` in place on ``images`` (n, C, H, W) and integer ``labels`` (n,) with cross-entropy: AdamW
    (weight decay 1e-4) at ``lr`` under ``schedule(optimizer, total_steps)``, shuffled minibatches drawn from ``g``,
    each augmented by ``augment``. Leaves the model in eval mode; returns the CPU seconds it took."""
    steps = epochs * ((len(labels) + batch_size - 1) // batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = schedule(opt, steps)
    start = time.process_time()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=g)
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            loss = nn.functional.cross_entropy(model(augment(images[idx], g)), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    return time.process_time() - start


def train_classifier(epochs: int = 30, batch_size: int = 64, lr: float = 2e-3, seed: int = 0) -> tuple[DigitsCNN, dict]:
    """Train ``DigitsCNN`` on the train half of ``digits_split()``; return it (eval mode) and its model card dict.

    AdamW (weight decay 1e-4) with cosine decay, augmentation of ``_augment``; deterministic for a given seed and
    thread count on CPU. The card records the held-out test accuracy.
    """
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    train, test = digits_split()
    model = DigitsCNN()
    seconds = _fit(model, train.images, train.labels, _augment, epochs, batch_size, g,
                   lambda opt, steps: torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps), lr)
    card = {
        "format_version": FORMAT_VERSION,
        "model": "DigitsCNN",
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": "scikit-learn digits, digits_split(test_fraction=0.2, seed=0): X/8-1, (n,1,8,8)",
        "train_images": len(train.labels),
        "test_images": len(test.labels),
        "train_accuracy": round(accuracy(model, train.images, train.labels), 4),
        "test_accuracy": round(accuracy(model, test.images, test.labels), 4),
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "augmentation": "one-pixel shift (p=0.5) + N(0, 0.1^2) pixel noise, clipped",
        "cpu_seconds": round(seconds, 1),
        "torch": torch.__version__,
        "command": "python -m efm_core.classifier",
    }
    return model, card


def save_classifier(model: DigitsCNN, card: dict, path: str | Path = DEFAULT_PATH) -> None:
    """Write ``path``.safetensors (weights) and ``path``.json (model card)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path.with_suffix(".safetensors")))
    path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")


def _load_weights(path: Path, model: nn.Module, kind: str, retrain: str) -> nn.Module:
    """Load ``path``.safetensors into ``model`` (eval mode, CPU) after checking ``path``.json's model and format."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights, card_path = path.with_suffix(".safetensors"), path.with_suffix(".json")
    if not weights.is_file() or not card_path.is_file():
        raise ValueError(f"{kind} classifier not found at {weights.name} / {card_path.name} in {str(path.parent)!r}; recreate it with `{retrain}`.")
    try:
        card = json.loads(card_path.read_text())
        state = load_file(str(weights))
    except (json.JSONDecodeError, SafetensorError, OSError) as err:
        raise ValueError(f"{kind} classifier files at {str(path)!r} are corrupt ({err}); recreate them with `{retrain}`.") from None
    name = type(model).__name__
    if card.get("format_version") != FORMAT_VERSION or card.get("model") != name:
        raise ValueError(f"{card_path.name}: expected a {name} card of format {FORMAT_VERSION}; got {card.get('model')!r} v{card.get('format_version')!r}.")
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if expected != {k: tuple(v.shape) for k, v in state.items()}:
        raise ValueError(f"{weights.name} does not hold {name} weights (tensor names or shapes differ).")
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval()


def load_classifier(path: str | Path = DEFAULT_PATH) -> DigitsCNN:
    """Load the classifier (eval mode, CPU) from ``path``.safetensors, checking the JSON card's format version.

    Never unpickles anything. Raises ValueError with a clear message if the files are missing or do not match.
    """
    return _load_weights(Path(path), DigitsCNN(), "digits", "python -m efm_core.classifier")


@lru_cache(maxsize=1)
def default_classifier() -> DigitsCNN:
    """The shipped classifier, loaded once per process."""
    return load_classifier()


def classifier_outputs(images: object, model: DigitsCNN | None = None) -> tuple[Tensor, Tensor]:
    """Class probabilities (n, 10) and penultimate features (n, 128) of digit images (see ``as_digit_batch``)."""
    return _outputs(default_classifier() if model is None else model, as_digit_batch(images), 4096)


def _outputs(model: nn.Module, x: Tensor, chunk: int) -> tuple[Tensor, Tensor]:
    """Class probabilities (n, 10) and penultimate features (n, FEATURE_DIM) of a prepared batch x, ``chunk`` at a time."""
    with torch.no_grad():
        feats = torch.cat([model.features(part) for part in x.split(chunk)]) if len(x) else torch.zeros(0, FEATURE_DIM)
        probs = torch.softmax(model.head(feats), dim=1)
    return probs, feats


# --- Fashion-MNIST --------------------------------------------------------------------------------------------------


class FashionCNN(nn.Module):
    """Conv(1->16) -> pool -> Conv(16->32) -> pool -> Conv(32->64) -> pool -> Linear(576->128) = features -> Linear(128->10)
    for Fashion-MNIST images (n, 1, 28, 28) in [-1, 1] (about 0.1 M parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.SiLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.SiLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.SiLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(576, FEATURE_DIM), nn.SiLU(),
        )
        self.head = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features (n, 128) of images (n, 1, 28, 28)."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (n, 10) of images (n, 1, 28, 28)."""
        return self.head(self.body(x))


def as_fashion_batch(images: object) -> Tensor:
    """Images as float32 CPU (n, 1, 28, 28) clipped to [-1, 1]; accepts (n, 784), (n, 28, 28), (n, 1, 28, 28)."""
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, Tensor) else images).detach().to("cpu", torch.float32)
    if x.ndim == 2 and x.shape[1] == 784:
        x = x.reshape(-1, 1, 28, 28)
    elif x.ndim == 3 and x.shape[1:] == (28, 28):
        x = x[:, None]
    if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
        raise ValueError(f"Fashion-MNIST images must have shape (n, 1, 28, 28), (n, 28, 28) or (n, 784); got {tuple(x.shape)}.")
    if not torch.isfinite(x).all():
        raise ValueError("images contain NaN or infinite pixels; drop those samples before classifying them.")
    return x.clamp(-1.0, 1.0)


def _augment_fashion(x: Tensor, g: torch.Generator) -> Tensor:
    """A random horizontal flip (half the batch) and a random shift of up to two pixels (half the batch)."""
    flip = torch.rand(x.shape[0], 1, 1, 1, generator=g) < 0.5
    x = torch.where(flip, x.flip(-1), x)
    keep = torch.rand(x.shape[0], 1, 1, 1, generator=g) < 0.5
    return torch.where(keep, x, shift_images(x, g, max_shift=2))


def train_fashion_classifier(epochs: int = 10, batch_size: int = 128, lr: float = 3e-3, seed: int = 0) -> tuple[FashionCNN, dict]:
    """Train ``FashionCNN`` on the 60,000 Fashion-MNIST training images (``datasets.load_fashion_mnist``); return it
    (eval mode) and its model card (test accuracy on the published 10,000 test images). AdamW, cosine decay."""
    from .data.datasets import load_fashion_mnist

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    model = FashionCNN()
    seconds = _fit(model, train.images, train.labels, _augment_fashion, epochs, batch_size, g,
                   lambda opt, steps: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15), lr)
    card = {
        "format_version": FORMAT_VERSION, "model": "FashionCNN", "parameters": sum(p.numel() for p in model.parameters()),
        "data": "Fashion-MNIST idx files (published split), pixel/127.5-1, (n,1,28,28)",
        "train_images": len(train.labels), "test_images": len(test.labels),
        "train_accuracy": round(accuracy(model, train.images[:10000], train.labels[:10000], as_fashion_batch), 4),
        "test_accuracy": round(accuracy(model, test.images, test.labels, as_fashion_batch), 4),
        "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
        "augmentation": "horizontal flip (p=0.5) + shift up to 2 px (p=0.5)",
        "cpu_seconds": round(seconds, 1), "torch": torch.__version__, "command": FASHION_RETRAIN,
    }
    return model, card


def load_fashion_classifier(path: str | Path = FASHION_PATH) -> FashionCNN:
    """The Fashion-MNIST classifier (eval mode, CPU) from ``path``.safetensors + .json; ValueError if missing or wrong."""
    return _load_weights(Path(path), FashionCNN(), "Fashion-MNIST", FASHION_RETRAIN)


@lru_cache(maxsize=1)
def default_fashion_classifier() -> FashionCNN:
    """The shipped Fashion-MNIST classifier, loaded once per process."""
    return load_fashion_classifier()


def fashion_outputs(images: object, model: FashionCNN | None = None) -> tuple[Tensor, Tensor]:
    """Class probabilities (n, 10) and penultimate features (n, 128) of Fashion-MNIST images (``as_fashion_batch``)."""
    return _outputs(default_fashion_classifier() if model is None else model, as_fashion_batch(images), 2048)


def main(argv: list[str] | None = None) -> None:
    """Retrain a classifier deterministically (1 thread) and rewrite its shipped files: the digits one, or with the
    argument ``fashion`` the Fashion-MNIST one."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    torch.set_num_threads(1)
    if args == ["fashion"]:
        model, card = train_fashion_classifier()
        save_classifier(model, card, FASHION_PATH)
    else:
        model, card = train_classifier()
        save_classifier(model, card)
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    main()
