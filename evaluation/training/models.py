"""Networks to *transfer* discovered rules to: the paper's child, Wide ResNets and sequence models.

``build_model(name, task, seed)`` returns an ordinary ``nn.Module`` mapping a batch of the task's
inputs ``[B, *task.input_shape]`` to logits ``[B, task.num_classes]`` (on a language task: token
ids ``[B, T]`` to next-token logits ``[B, V, T]``), initialised from ``seed`` alone (torch's
global generator is neither read nor advanced). Which names work on which kind of task:
:data:`MODELS_FOR_KIND` (:func:`check_model_task`).

==================  ==========================================================================
name                network
==================  ==========================================================================
``paper``           the search's child (:class:`~optsearch.evaluation.training.child.Child`): two 3×3
                    convolutions with 32 filters, batch norm, ReLU, linear classifier — exactly
                    the network the rules were searched on (one copy, not the stacked trainer's).
``resnet``          a pre-activation Wide ResNet, WRN-16-2 (see below): 0.69 M parameters and
                    about 0.2 GFLOP per forward pass of one 32×32 image.
``wrn-D-K``         a pre-activation Wide ResNet of depth ``D`` (``D = 6n + 4``: ``n`` basic
                    blocks per stage) and widening factor ``K``, e.g. ``wrn-16-4``, ``wrn-28-10``
                    (the family of the paper's transfer experiment, Zagoruyko & Komodakis 2016).
``lstm``, ``gru``   sequence tasks: one recurrent layer (64 units) over the ``L`` steps of ``C``
                    features, a linear classifier on the last hidden state.
``transformer``     sequence tasks: a 2-layer pre-norm Transformer encoder (width 32, 4 heads,
                    feed-forward 64), mean-pooled; language tasks: the same blocks as a causal
                    language model. See :mod:`.sequence_models`.
==================  ==========================================================================

The Wide ResNet (He et al. 2016, "Identity Mappings"; Zagoruyko & Komodakis 2016): a 3×3 stem
convolution with 16 filters, three stages of ``n`` pre-activation basic blocks with ``16K``,
``32K`` and ``64K`` filters (strides 1, 2, 2), a final batch norm + ReLU, global average pooling
and a linear classifier. A basic block is ``BN → ReLU → conv3×3(stride) → BN → ReLU → conv3×3``
plus a shortcut: the identity, or a 1×1 convolution of the pre-activated input where the shape
changes. Convolutions have no bias. Image tasks (``[B, C, H, W]``) get 2-D convolutions; sequence
tasks (``[B, C, L]``, e.g. ``mnist1d``) the 1-D twin of the same network (kernels of 3, strided
1-D convolutions, global average pooling over the sequence). Function tasks have no network and
raise ``ValueError``, as does a network on a kind of task it does not fit.

Initialisation of the Wide ResNet (seeded): convolutions ~ Kaiming normal (fan-out, ReLU gain), linear weights
~ U(±1/√fan_in), linear bias 0, batch norm γ = 1, β = 0 with fresh running statistics.
"""

from __future__ import annotations

import math
import re
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..tasks import Task, get_task
from .child import child_spec, make_child
from .sequence_models import CausalTransformerLM, RecurrentClassifier, TransformerClassifier, init_sequence_model

__all__ = [
    "MODELS",
    "MODELS_FOR_KIND",
    "PreActBlock",
    "WideResNet",
    "build_model",
    "check_model_task",
    "check_wide_resnet",
    "count_parameters",
    "parse_model_name",
]

MODELS: tuple[str, ...] = ("paper", "resnet", "wrn-D-K", "lstm", "gru", "transformer")
#: The model names (as in :data:`MODELS`) that work on each kind of task.
MODELS_FOR_KIND: dict[str, tuple[str, ...]] = {
    "image": ("paper", "resnet", "wrn-D-K"),
    "sequence": MODELS,
    "language": ("transformer",),
    "function": (),
}
_SEQUENCE_MODELS = ("lstm", "gru", "transformer")
RESNET_DEPTH = 16  # "resnet" = WRN-16-2
RESNET_WIDEN = 2
STEM_WIDTH = 16
_WRN = re.compile(r"^wrn-(\d+)-(\d+)$")


def _layers(dims: int) -> tuple[type, type]:
    if dims == 2:
        return nn.Conv2d, nn.BatchNorm2d
    if dims == 1:
        return nn.Conv1d, nn.BatchNorm1d
    raise ValueError(f"only 1-D and 2-D inputs are supported, got {dims}-D")


class PreActBlock(nn.Module):
    """A pre-activation basic block: ``BN → ReLU → conv3(stride) → BN → ReLU → conv3`` + shortcut.

    The shortcut is the identity when ``in_channels == out_channels`` and ``stride == 1``, else a
    1×1 convolution (with the stride) of the *pre-activated* input, as in Wide ResNets.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, *, dims: int = 2):
        super().__init__()
        conv, norm = _layers(dims)
        self.bn1 = norm(in_channels)
        self.conv1 = conv(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = norm(out_channels)
        self.conv2 = conv(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.shortcut: Optional[nn.Module] = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = conv(in_channels, out_channels, 1, stride=stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        pre = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(pre)
        h = self.conv1(pre)
        h = self.conv2(F.relu(self.bn2(h)))
        return h + skip


class WideResNet(nn.Module):
    """A pre-activation Wide ResNet WRN-``depth``-``widen`` for 2-D (``dims=2``) or 1-D inputs.

    ``depth = 6n + 4`` (``n`` blocks per stage, ``depth >= 10``); stage widths ``16·widen``,
    ``32·widen``, ``64·widen``. ``forward`` maps ``[B, C, H, W]`` (or ``[B, C, L]``) to logits
    ``[B, num_classes]``; any spatial size works (global average pooling).
    """

    def __init__(self, in_channels: int, num_classes: int, *, depth: int = RESNET_DEPTH, widen: int = RESNET_WIDEN, dims: int = 2):
        super().__init__()
        check_wide_resnet(depth, widen)
        conv, norm = _layers(dims)
        self.depth, self.widen, self.dims = depth, widen, dims
        blocks = (depth - 4) // 6
        widths = [STEM_WIDTH * widen * m for m in (1, 2, 4)]
        self.stem = conv(in_channels, STEM_WIDTH, 3, padding=1, bias=False)
        stages = []
        channels = STEM_WIDTH
        for width, stride in zip(widths, (1, 2, 2)):
            layers = []
            for i in range(blocks):
                layers.append(PreActBlock(channels, width, stride if i == 0 else 1, dims=dims))
                channels = width
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.bn = norm(channels)
        self.linear = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        h = self.stages(self.stem(x))
        h = F.relu(self.bn(h))
        h = h.mean(dim=tuple(range(2, h.dim())))  # global average pooling
        return self.linear(h)


def init_wide_resnet(model: WideResNet, generator: torch.Generator) -> WideResNet:
    """Seeded initialisation of every layer (see the module docstring); returns ``model``."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv1d, nn.Conv2d)):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=generator)
            elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                module.reset_parameters()
            elif isinstance(module, nn.Linear):
                bound = 1.0 / math.sqrt(module.weight.shape[1])
                nn.init.uniform_(module.weight, -bound, bound, generator=generator)
                nn.init.zeros_(module.bias)
    return model


def parse_model_name(name: str) -> tuple[str, dict[str, int]]:
    """``(kind, options)`` for a model name (see :data:`MODELS`): ``("paper", {})``, ``("lstm", {})``,
    ``("gru", {})``, ``("transformer", {})`` or ``("wrn", {"depth": D, "widen": K})``."""
    key = name.strip().lower()
    if key in ("paper", *_SEQUENCE_MODELS):
        return key, {}
    if key == "resnet":
        return "wrn", {"depth": RESNET_DEPTH, "widen": RESNET_WIDEN}
    match = _WRN.match(key)
    if match:
        depth, widen = int(match.group(1)), int(match.group(2))
        check_wide_resnet(depth, widen)
        return "wrn", {"depth": depth, "widen": widen}
    raise ValueError(f"unknown model {name!r}; known: paper, resnet, wrn-D-K (e.g. wrn-16-4), lstm, gru, transformer")


def check_wide_resnet(depth: int, widen: int) -> None:
    """Raise ``ValueError`` unless WRN-``depth``-``widen`` exists (``depth = 6n + 4``, ``widen >= 1``)."""
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(f"a Wide ResNet's depth is 6n + 4 with n >= 1 (10, 16, 22, 28, ...), got {depth}")
    if widen < 1:
        raise ValueError(f"the widening factor must be >= 1, got {widen}")


def check_model_task(name: str, task_name: str, kind: str) -> None:
    """Raise ``ValueError`` unless model ``name`` works on task ``task_name`` of ``kind`` (see :data:`MODELS_FOR_KIND`)."""
    if kind == "function":
        raise ValueError(f"task {task_name!r} is a function task: it has no network to build")
    family, _ = parse_model_name(name)
    usable = MODELS_FOR_KIND.get(kind, ())
    if ("wrn-D-K" if family == "wrn" else family) not in usable:
        raise ValueError(f"model {name!r} does not work on the {kind} task {task_name!r}; models for {kind} tasks: {', '.join(usable)}")


def build_model(
    name: str,
    task: "Task | str",
    seed: int,
    *,
    depth: Optional[int] = None,
    widen: Optional[int] = None,
) -> nn.Module:
    """The network ``name`` for ``task`` (a :class:`Task` or a task name), initialised from ``seed``.

    ``name`` is one of :data:`MODELS`: ``"paper"``, ``"resnet"`` (WRN-16-2), ``"wrn-D-K"``,
    ``"lstm"``, ``"gru"`` or ``"transformer"``; ``depth``/``widen`` override a Wide ResNet's (and
    are rejected for the others). The result is on the CPU in training mode; move it with
    ``.to(device)``. Raises ``ValueError`` for an unknown name, a function task or a model that
    does not work on the task's kind (:func:`check_model_task`).
    """
    if isinstance(task, str):
        task = get_task(task)
    if task.is_function:
        raise ValueError(f"task {task.name!r} is a function task: it has no network to build")
    kind, options = parse_model_name(name)
    check_model_task(name, task.name, task.kind)
    if kind != "wrn" and (depth is not None or widen is not None):
        raise ValueError(f"depth and widen only apply to Wide ResNets, not to {name!r}")
    # Build without touching torch's global generator (module constructors draw from it).
    with torch.random.fork_rng(devices=[]):
        if kind == "paper":
            return make_child(child_spec(task), int(seed))
        generator = torch.Generator().manual_seed(int(seed))
        if task.kind == "language":
            return init_sequence_model(CausalTransformerLM(task.num_classes, task.input_shape[0]), generator)
        if kind in _SEQUENCE_MODELS:
            channels, length = task.input_shape
            if kind == "transformer":
                return init_sequence_model(TransformerClassifier(channels, length, task.num_classes), generator)
            return init_sequence_model(RecurrentClassifier(kind, channels, task.num_classes), generator)
        if depth is not None:
            options["depth"] = int(depth)
        if widen is not None:
            options["widen"] = int(widen)
        dims = len(task.input_shape) - 1
        if task.kind not in ("image", "sequence") or dims not in (1, 2):
            raise ValueError(f"task {task.name!r} ({task.kind}, input {task.input_shape}) has no Wide ResNet variant")
        model = WideResNet(task.input_shape[0], task.num_classes, dims=dims, **options)
        return init_wide_resnet(model, generator)


def count_parameters(model: nn.Module) -> int:
    """The number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
