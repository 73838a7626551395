"""``DSLOptimizer``: any rule of the language as a drop-in ``torch.optim.Optimizer``."""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Iterable, Optional, Union

import torch
from torch import Tensor

from .canonical import canonical
from .compiler import RuleConfig, compile_rule
from .expr import Binary, Expr, Operand, Unary
from .library import NAMED_RULES
from .parser import ParseError, parse

_SEED_RANGE = (-(2**63), 2**64 - 1)  # what torch.Generator.manual_seed accepts


def check_learning_rate(lr: Any) -> None:
    """Raise unless ``lr`` is a finite number >= 0 (torch's optimizers refuse a negative rate too)."""
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise TypeError(f"the learning rate must be a number, got {type(lr).__name__}")
    if not math.isfinite(lr) or lr < 0.0:
        raise ValueError(f"invalid learning rate {lr}: it must be a finite number >= 0")


def check_total_steps(total_steps: Any) -> None:
    """Raise unless ``total_steps`` (T of the decay schedules) is ``None`` or an integer >= 1."""
    if total_steps is None:
        return
    if isinstance(total_steps, bool) or not isinstance(total_steps, numbers.Integral):
        raise TypeError(f"total_steps must be an integer or None, got {type(total_steps).__name__}")
    if total_steps < 1:
        raise ValueError(f"invalid total_steps {total_steps}: it must be >= 1")


def _check_seed(seed: Any) -> None:
    if seed is None:
        return
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer or None, got {type(seed).__name__}")
    if not _SEED_RANGE[0] <= seed <= _SEED_RANGE[1]:
        raise ValueError(f"seed {seed} is out of range: torch's generators take {_SEED_RANGE[0]} to {_SEED_RANGE[1]}")


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
    work as for any torch optimizer, on CPU and CUDA tensors, and refuse the state of another rule.

    ``lr`` must be a finite number >= 0 and ``total_steps`` ``None`` or an integer >= 1 (in every
    parameter group); otherwise the constructor raises ``ValueError`` (``TypeError`` for a value
    that is no number at all).
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
        check_learning_rate(lr)
        check_total_steps(total_steps)
        _check_seed(seed)
        if not isinstance(config, RuleConfig):
            raise TypeError(f"config must be a RuleConfig, got {type(config).__name__}")
        self.rule = resolve_rule(rule)
        self.update_rule = compile_rule(self.rule, config)
        super().__init__(params, {"lr": lr, "total_steps": total_steps})
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group; its ``lr`` and ``total_steps`` are checked as the constructor's.

        A rule with a decay schedule needs ``total_steps`` in every group.
        """
        check_learning_rate(param_group.get("lr", self.defaults["lr"]))
        total = param_group.get("total_steps", self.defaults["total_steps"])
        check_total_steps(total)
        if self.update_rule.needs_total_steps and total is None:
            raise ValueError(f"rule {self.rule} uses a decay schedule: give total_steps >= 1")
        super().add_param_group(param_group)

    def _generator(self, device: torch.device) -> Optional[torch.Generator]:
        if self.seed is None:
            return None
        if device not in self._generators:
            self._generators[device] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[device]

    def state_dict(self) -> dict[str, Any]:
        """Torch's optimizer state plus the rule's text and the generators of ``noise``/``drop`` (when seeded)."""
        state = super().state_dict()
        state["rule"] = str(self.rule)
        state["generators"] = {str(device): gen.get_state() for device, gen in self._generators.items()}
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`, random streams included, so a resumed run continues exactly.

        Raises ``ValueError`` naming both rules when the state was saved by an optimizer of a
        different rule (rules equal up to :func:`~optsearch.dsl.canonical` are the same rule), and,
        for a state dict without the rule's text (saved by an older version), when it lacks a
        running average this rule reads.
        """
        state_dict = dict(state_dict)
        generators = state_dict.pop("generators", {})
        saved_rule = state_dict.pop("rule", None)
        if saved_rule is not None:
            self._check_same_rule(saved_rule)
        self._check_buffers(state_dict.get("state", {}))
        super().load_state_dict(state_dict)
        for device, generator_state in generators.items():
            generator = self._generator(torch.device(device))
            if generator is not None:
                generator.set_state(generator_state)

    def _check_same_rule(self, saved_rule: Any) -> None:
        try:
            same = canonical(resolve_rule(saved_rule)) == canonical(self.rule)
        except (ParseError, TypeError):
            raise ValueError(
                f"the state dict names no valid rule ({saved_rule!r}); this optimizer's rule is {str(self.rule)!r}"
            ) from None
        if not same:
            raise ValueError(
                f"cannot load the state of rule {saved_rule!r} into an optimizer of rule {str(self.rule)!r}"
            )

    def _check_buffers(self, saved_state: dict[Any, Any]) -> None:
        needed = ("step",) + self.update_rule.buffers
        for entry in saved_state.values():
            missing = [name for name in needed if name not in entry]
            if missing:
                raise ValueError(
                    f"the state dict lacks {', '.join(map(repr, missing))}, which rule {str(self.rule)!r} "
                    f"needs: it was saved by an optimizer of another rule"
                )

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
