"""The child network of Neural Optimizer Search, plain and *stacked* (K copies trained at once).

The paper's child (Bello et al. 2017) is a small ConvNet: two 3×3 convolution layers with 32
filters, each followed by batch normalisation and a ReLU, then a linear classifier. Here:

- 2-D data (``digits`` 8×8, ``cifar10`` 32×32): ``Conv2d(C, 32, 3, pad 1) → BN → ReLU →
  Conv2d(32, 32, 3, pad 1) → BN → ReLU → [MaxPool 2×2] → flatten → Linear(·, classes)``. The
  max-pool is only used where :attr:`ChildSpec.pool` says so (CIFAR-10, to keep the classifier at
  32·16·16 inputs); on 8×8 digits there is no pooling (32·8·8 = 2048 features).
- 1-D data (``mnist1d``, length 40): the ``Conv1d`` twin of the same network (32·40 features).

The convolutions have no bias (the following batch normalisation's shift makes it redundant);
batch normalisation uses torch's defaults (momentum 0.1, ε = 1e-5).

:class:`Child` is one network built from ordinary torch modules (the reference).
:class:`StackedChild` holds ``K`` independent copies as one module, so a learning-rate grid of
``K`` values trains in one forward/backward per step instead of ``K``:

- every parameter has the copy index as its **leading dimension** (``conv2_weight`` is
  ``[K, 32, 32, 3, 3]``), so a per-copy learning rate is one broadcast multiply;
- the first convolution reads the same input for every copy, so it is one ordinary convolution
  with ``K·32`` output channels (for 1-channel inputs an im2col + matrix product, which lands
  directly in ``channels_last`` layout); the second is a grouped convolution (``groups=K``);
- batch normalisation over the ``K·32`` channels keeps per-copy statistics (it is per channel);
- the classifier is a batched matrix product per copy (a small custom autograd function that
  arranges the products in the shapes MKL runs fastest).

No operation mixes copies, so copy ``k`` computes what an independent :class:`Child` with the same
weights computes (up to floating-point summation order) and a NaN in one copy cannot reach another.
Activations run in ``channels_last`` layout throughout (batch normalisation and the grouped
convolution are several times faster there on CPU than in NCHW).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from ..tasks import Task

WIDTH = 32  # filters per convolution layer (the paper's child)
BN_MOMENTUM = 0.1
BN_EPS = 1e-5
UNFOLD_MAX_CHANNELS = 1  # inputs with at most this many channels use the im2col first convolution


@dataclass(frozen=True)
class ChildSpec:
    """The shape of a child: input channels, spatial size (``(H, W)`` or ``(L,)``), classes."""

    in_channels: int
    spatial: tuple[int, ...]
    num_classes: int
    width: int = WIDTH
    pool: bool = False  # 2×2 max-pool before the classifier (2-D only)

    def __post_init__(self) -> None:
        if len(self.spatial) not in (1, 2):
            raise ValueError(f"spatial must be (L,) or (H, W), got {self.spatial}")
        if self.pool and len(self.spatial) != 2:
            raise ValueError("pooling is only defined for 2-D children")

    @property
    def dims(self) -> int:
        """1 for sequences, 2 for images."""
        return len(self.spatial)

    @property
    def feature_spatial(self) -> tuple[int, ...]:
        """Spatial size entering the classifier."""
        if self.pool:
            return tuple(s // 2 for s in self.spatial)
        return self.spatial

    @property
    def features(self) -> int:
        """Inputs of the classifier: width × positions."""
        return self.width * math.prod(self.feature_spatial)

    def flops_per_example(self) -> int:
        """Multiply-adds × 2 of one forward pass of one copy (convolutions and classifier)."""
        positions = math.prod(self.spatial)
        kernel = 3**self.dims
        conv1 = 2 * positions * self.width * self.in_channels * kernel
        conv2 = 2 * positions * self.width * self.width * kernel
        head = 2 * self.features * self.num_classes
        return conv1 + conv2 + head


def check_searchable(name: str, kind: str) -> None:
    """Raise ``ValueError`` (one line) unless the search can evaluate rules on task ``name`` of ``kind``.

    The search trains the paper's child, a ConvNet classifier of images and sequences (or descends
    a test function); a language task has no such child and is for ``optsearch transfer`` only.
    """
    if kind == "language":
        raise ValueError(
            f"task {name!r} is a language task: the search's child (a ConvNet classifier) cannot train on it; "
            f"use it with optsearch transfer --model transformer"
        )


def child_spec(task: "Task") -> ChildSpec:
    """The child architecture for a data task (``ValueError`` for a function or a language task)."""
    if task.is_function:
        raise ValueError(f"task {task.name!r} is a function task: it has no child network")
    check_searchable(task.name, task.kind)
    return ChildSpec(
        in_channels=task.input_shape[0],
        spatial=tuple(task.input_shape[1:]),
        num_classes=task.num_classes,
        pool=task.pool,
    )


# ------------------------------------------------------------------------------------------------
# The plain child
# ------------------------------------------------------------------------------------------------
class Child(nn.Module):
    """One child network from standard torch modules (see the module docstring)."""

    def __init__(self, spec: ChildSpec):
        super().__init__()
        self.spec = spec
        conv = nn.Conv2d if spec.dims == 2 else nn.Conv1d
        norm = nn.BatchNorm2d if spec.dims == 2 else nn.BatchNorm1d
        w = spec.width
        self.conv1 = conv(spec.in_channels, w, 3, padding=1, bias=False)
        self.bn1 = norm(w, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.conv2 = conv(w, w, 3, padding=1, bias=False)
        self.bn2 = norm(w, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.pool = nn.MaxPool2d(2) if spec.pool else nn.Identity()
        self.linear = nn.Linear(spec.features, spec.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        h = self.pool(h)
        return self.linear(torch.flatten(h, 1))


def init_child(child: Child, generator: torch.Generator) -> Child:
    """Seeded initialisation (torch's default distributions, drawn from ``generator``).

    Convolution and linear weights ~ U(±1/√fan_in) (torch's ``kaiming_uniform_(a=√5)``), the
    linear bias likewise; batch normalisation starts at γ = 1, β = 0, running mean 0, variance 1.
    """
    with torch.no_grad():
        for module in (child.conv1, child.conv2, child.linear):
            weight = module.weight
            bound = 1.0 / math.sqrt(weight[0].numel())
            weight.copy_(torch.rand(weight.shape, generator=generator) * (2 * bound) - bound)
        bound = 1.0 / math.sqrt(child.linear.weight.shape[1])
        bias = child.linear.bias
        bias.copy_(torch.rand(bias.shape, generator=generator) * (2 * bound) - bound)
        for bn in (child.bn1, child.bn2):
            bn.reset_parameters()
    return child


def make_child(spec: ChildSpec, seed: int) -> Child:
    """A :class:`Child` initialised from ``seed`` (independent of torch's global generator)."""
    return init_child(Child(spec), torch.Generator().manual_seed(int(seed)))


# ------------------------------------------------------------------------------------------------
# The stacked child
# ------------------------------------------------------------------------------------------------
class _StackedLinear(torch.autograd.Function):
    """``out[b, k] = W[k] · features_k(h[b]) + bias[k]`` for K copies at once.

    ``h`` is ``[B, K·c, *spatial]`` in any memory layout; copy k's features are its channels
    ``k·c … k·c + c - 1`` in (position, channel) order, matching ``weight [K, n, S, c]``.
    The products are arranged as ``W · Hᵀ``, ``gᵀ · H`` and ``g · W`` (fast shapes for MKL with
    few classes) instead of autograd's default ``H · Wᵀ`` / ``Hᵀ · g`` (slow for n = 10).
    """

    @staticmethod
    def forward(ctx, h: Tensor, weight: Tensor, bias: Tensor) -> Tensor:  # type: ignore[override]
        k, n, positions, c = weight.shape
        batch = h.shape[0]
        stacked = h.reshape(batch, k, c, positions).permute(1, 0, 3, 2).reshape(k, batch, positions * c)
        w = weight.reshape(k, n, positions * c)
        out = torch.baddbmm(bias.unsqueeze(2), w, stacked.transpose(1, 2))  # [K, n, B]
        ctx.save_for_backward(stacked, weight)
        ctx.h_shape = h.shape
        ctx.h_channels_last = h.dim() == 4 and h.is_contiguous(memory_format=torch.channels_last)
        return out.permute(2, 0, 1)  # [B, K, n]

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        stacked, weight = ctx.saved_tensors
        k, n, positions, c = weight.shape
        batch = stacked.shape[1]
        g = grad_out.permute(1, 0, 2).contiguous()  # [K, B, n]
        grad_h = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_stacked = torch.bmm(g, weight.reshape(k, n, positions * c))  # [K, B, S·c]
            fmt = torch.channels_last if ctx.h_channels_last else torch.contiguous_format
            grad_h = torch.empty(ctx.h_shape, dtype=g.dtype, device=g.device, memory_format=fmt)
            grad_h.view(batch, k, c, positions).copy_(grad_stacked.view(k, batch, positions, c).permute(1, 0, 3, 2))
        if ctx.needs_input_grad[1]:
            grad_w = torch.bmm(g.transpose(1, 2), stacked).view(k, n, positions, c)
        if ctx.needs_input_grad[2]:
            grad_b = g.sum(1)
        return grad_h, grad_w, grad_b


class _SharedInputConv(torch.autograd.Function):
    """``cols @ weightᵀ`` with the weight gradient computed as ``(colsᵀ · g)ᵀ`` (fast for few input
    channels, where autograd's ``gᵀ · cols`` has an inner dimension of only ``C·3ᵈ``)."""

    @staticmethod
    def forward(ctx, cols: Tensor, weight: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(cols)
        return cols @ weight.t()

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (cols,) = ctx.saved_tensors
        return None, (cols.t() @ grad).t()


class StackedChild(nn.Module):
    """``K`` independent copies of :class:`Child` as one module (see the module docstring).

    Parameters (all with the copy index first): ``conv1_weight [K, w, C, 3(, 3)]``,
    ``bn1_weight``/``bn1_bias [K, w]``, ``conv2_weight [K, w, w, 3(, 3)]``, ``bn2_weight``/``bn2_bias``,
    ``head_weight [K, classes, S, w]`` (features in (position, channel) order) and
    ``head_bias [K, classes]``. Running statistics ``bn{1,2}_mean``/``bn{1,2}_var [K, w]``.

    ``forward(x)`` takes ``[B, C, *spatial]`` and returns logits ``[B, K, classes]``. 2-D inputs
    are best given in ``channels_last`` format (the trainer does); 1-D children run their
    convolutions as 2-D ``1×3`` convolutions in ``channels_last`` (same numbers, faster on CPU).
    """

    #: ReLU in place on batch norm's output (bit-identical to out of place, and faster: see
    #: ``benchmarks/child_speed.py``, which switches it off to measure the trainer before it).
    inplace_relu: bool = True

    def __init__(self, spec: ChildSpec, copies: int, *, seed: int = 0, init: Optional[Child] = None):
        super().__init__()
        if copies < 1:
            raise ValueError("copies must be >= 1")
        self.spec = spec
        self.copies = copies
        if init is None:
            init = make_child(spec, seed)
        w, classes = spec.width, spec.num_classes
        positions = math.prod(spec.feature_spatial)

        def rep(t: Tensor) -> Tensor:
            return t.detach().unsqueeze(0).repeat(copies, *([1] * t.dim())).contiguous()

        self.conv1_weight = nn.Parameter(rep(init.conv1.weight))
        self.bn1_weight = nn.Parameter(rep(init.bn1.weight))
        self.bn1_bias = nn.Parameter(rep(init.bn1.bias))
        self.conv2_weight = nn.Parameter(rep(init.conv2.weight))
        self.bn2_weight = nn.Parameter(rep(init.bn2.weight))
        self.bn2_bias = nn.Parameter(rep(init.bn2.bias))
        head = init.linear.weight.detach().view(classes, w, positions).transpose(1, 2)  # (s, c) order
        self.head_weight = nn.Parameter(rep(head))
        self.head_bias = nn.Parameter(rep(init.linear.bias))
        self.register_buffer("bn1_mean", rep(init.bn1.running_mean))
        self.register_buffer("bn1_var", rep(init.bn1.running_var))
        self.register_buffer("bn2_mean", rep(init.bn2.running_mean))
        self.register_buffer("bn2_var", rep(init.bn2.running_var))

    # -- conversions ------------------------------------------------------------------------
    def copy(self, k: int) -> Child:
        """Copy ``k`` as an independent :class:`Child` (same weights and running statistics)."""
        spec = self.spec
        child = Child(spec)
        w, classes = spec.width, spec.num_classes
        positions = math.prod(spec.feature_spatial)
        with torch.no_grad():
            child.conv1.weight.copy_(self.conv1_weight[k])
            child.conv2.weight.copy_(self.conv2_weight[k])
            child.bn1.weight.copy_(self.bn1_weight[k])
            child.bn1.bias.copy_(self.bn1_bias[k])
            child.bn2.weight.copy_(self.bn2_weight[k])
            child.bn2.bias.copy_(self.bn2_bias[k])
            child.bn1.running_mean.copy_(self.bn1_mean[k])
            child.bn1.running_var.copy_(self.bn1_var[k])
            child.bn2.running_mean.copy_(self.bn2_mean[k])
            child.bn2.running_var.copy_(self.bn2_var[k])
            child.linear.weight.copy_(self.head_weight[k].transpose(1, 2).reshape(classes, w * positions))
            child.linear.bias.copy_(self.head_bias[k])
        child.train(self.training)
        return child

    @torch.no_grad()
    def select(self, positions: Sequence[int]) -> "StackedChild":
        """A new stack of the copies at ``positions`` (parameters and statistics copied, in order)."""
        index = torch.as_tensor(list(positions), dtype=torch.long, device=self.conv1_weight.device)
        new = object.__new__(StackedChild)
        nn.Module.__init__(new)
        new.spec = self.spec
        new.copies = int(index.numel())
        for name, param in self.named_parameters(recurse=False):
            setattr(new, name, nn.Parameter(param.detach().index_select(0, index)))
        for name, buffer in self.named_buffers(recurse=False):
            new.register_buffer(name, buffer.index_select(0, index))
        new.train(self.training)
        return new

    # -- forward ----------------------------------------------------------------------------
    def _bn_relu(self, h: Tensor, weight: Tensor, bias: Tensor, mean: Tensor, var: Tensor) -> Tensor:
        h = F.batch_norm(
            h, mean.view(-1), var.view(-1), weight.reshape(-1), bias.reshape(-1), self.training, BN_MOMENTUM, BN_EPS
        )
        # In place: batch norm's backward needs its input, not its output, so the ReLU may
        # overwrite the output (the same numbers, without a second activation-sized tensor).
        return F.relu(h, inplace=self.inplace_relu)

    def forward(self, x: Tensor) -> Tensor:
        spec, k, w = self.spec, self.copies, self.spec.width
        w1 = self.conv1_weight.reshape(k * w, *self.conv1_weight.shape[2:])
        w2 = self.conv2_weight.reshape(k * w, *self.conv2_weight.shape[2:])
        if spec.dims == 1:
            # Conv1d as a 1×3 Conv2d over [B, C, 1, L] in channels_last: identical numbers.
            x = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
            w1, w2 = w1.unsqueeze(2), w2.unsqueeze(2)
            padding: tuple[int, int] = (0, 1)
        else:
            padding = (1, 1)
        if spec.in_channels <= UNFOLD_MAX_CHANNELS:
            # First convolution as im2col + one matrix product: the output comes out directly in
            # channels_last layout (mkldnn gives NCHW for 1-channel inputs, where batch norm is slow).
            batch, height, width = x.shape[0], x.shape[2], x.shape[3]
            kernel = tuple(w1.shape[2:])
            cols = F.unfold(x, kernel, padding=padding).transpose(1, 2).reshape(batch * height * width, -1)
            h = _SharedInputConv.apply(cols, w1.reshape(k * w, -1))
            h = h.view(batch, height, width, k * w).permute(0, 3, 1, 2)
        else:  # same input for every copy: one ordinary convolution with K·w outputs
            h = F.conv2d(x, w1, padding=padding)
        h = self._bn_relu(h, self.bn1_weight, self.bn1_bias, self.bn1_mean, self.bn1_var)
        h = F.conv2d(h, w2, padding=padding, groups=k)
        h = self._bn_relu(h, self.bn2_weight, self.bn2_bias, self.bn2_mean, self.bn2_var)
        if spec.pool:
            h = F.max_pool2d(h, 2)
        return _StackedLinear.apply(h, self.head_weight, self.head_bias)
