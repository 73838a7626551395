"""``DSLOptimizer``: any rule of the language as a drop-in ``torch.optim.Optimizer``."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional, Union

import torch
from torch import Tensor

from .compiler import RuleConfig, compile_rule
from .expr import Binary, Expr, Operand, Unary
from .library import NAMED_RULES
from .parser import parse


def resolve_rule(rule: Union[Expr, str]) -> Expr:
    """An ``Expr`` from an ``Expr``, a named rule (``"powersign"``) or rule text."""
    if isinstance(rule, (Operand, Unary, Binary)):
        return rule
    if not isinstance(rule, str):
        raise TypeError(f"a rule is an Expr or a str, got {type(rule).__name__}")
    return parse(NAMED_RULES.get(rule.strip(), rule))


class DSLOptimizer(torch.optim.Optimizer):
    r"""Optimize with a rule of the language: :math:`w \leftarrow w - \lambda \cdot \text{rule}`.

    >>> opt = DSLOptimizer(model.parameters(), "exp(sign(g) * sign(m)) * g", lr=0.01)  # doctest: +SKIP

    ``rule`` is an ``Expr``, rule text or a name of :data:`~optsearch.dsl.library.NAMED_RULES`.
    ``total_steps`` (T of the decay schedules ``ld``/``cd``/``rd``) is required when the rule uses
    one; ``lr`` and ``total_steps`` may differ per parameter group. ``seed`` fixes the randomness of
    ``noise``/``drop`` (otherwise torch's global generator is used). State holds only the running
    averages the rule reads, plus a per-parameter step count; ``state_dict``/``load_state_dict``
    work as for any torch optimizer, on CPU and CUDA tensors.
    """

    def __init__(
        self,
        params: Iterable[Any],
        rule: Union[Expr, str],
        lr: float = 1e-3,
        total_steps: Optional[int] = None,
        *,
        config: RuleConfig = RuleConfig(),
        seed: Optional[int] = None,
    ):
        if lr < 0.0:
            raise ValueError(f"invalid learning rate {lr}")
        self.rule = resolve_rule(rule)
        self.update_rule = compile_rule(self.rule, config)
        super().__init__(params, {"lr": lr, "total_steps": total_steps})
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group; a rule with a decay schedule needs ``total_steps`` in every group."""
        total = param_group.get("total_steps", self.defaults["total_steps"])
        if self.update_rule.needs_total_steps and (not total or total < 1):
            raise ValueError(f"rule {self.rule} uses a decay schedule: give total_steps >= 1")
        super().add_param_group(param_group)

    def _generator(self, device: torch.device) -> Optional[torch.Generator]:
        if self.seed is None:
            return None
        if device not in self._generators:
            self._generators[device] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[device]

    def state_dict(self) -> dict[str, Any]:
        """Torch's optimizer state plus the generators of ``noise``/``drop`` (when seeded)."""
        state = super().state_dict()
        state["generators"] = {str(device): gen.get_state() for device, gen in self._generators.items()}
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`, random streams included, so a resumed run continues exactly."""
        state_dict = dict(state_dict)
        generators = state_dict.pop("generators", {})
        super().load_state_dict(state_dict)
        for device, generator_state in generators.items():
            generator = self._generator(torch.device(device))
            if generator is not None:
                generator.set_state(generator_state)

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], float]] = None) -> Optional[float]:  # type: ignore[override]
        """Perform one update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        buffer_names = self.update_rule.buffers
        for group in self.param_groups:
            buckets: dict[tuple[int, torch.device, torch.dtype], list[Tensor]] = {}
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("DSLOptimizer does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    for name in buffer_names:
                        state[name] = torch.zeros_like(p, memory_format=torch.preserve_format)
                buckets.setdefault((int(state["step"]), p.device, p.dtype), []).append(p)
            # Parameters that stepped equally often share one foreach call per device and dtype.
            for (step, device, _), params in buckets.items():
                self.update_rule.apply(
                    params,
                    [p.grad for p in params],
                    {name: [self.state[p][name] for p in params] for name in buffer_names},
                    step=step + 1,
                    lr=group["lr"],
                    total_steps=group["total_steps"],
                    generator=self._generator(device),
                )
                for p in params:
                    self.state[p]["step"] = step + 1
        return loss
