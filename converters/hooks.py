"""Reading and steering the torch model. Every hook lives inside a context manager that removes it on exit,
exceptions included, so a failed run never leaves a model steered.

- `record_head_inputs`: the input of each block's attention output projection W_o, split per head (what PAS
  probes).
- `block_output_steering`: adds a vector to the output of block L at every position: llama.cpp's
  `direction.L`.
- `head_steering`: adds a per-head displacement to the input of W_o at every position (PAS's own placement);
  the same as adding W_o @ displacement to the attention output, i.e. to the residual before block L's FFN.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch

from paso_local.converters.model import GGUFTransformer


@contextmanager
def record_head_inputs(
    model: GGUFTransformer,
    *,
    layers: Sequence[int] | None = None,
    positions: torch.Tensor | None = None,
) -> Iterator[dict[int, torch.Tensor]]:
    """Yields a dict that each forward pass fills: layer -> float32 [B, n_head, head_dim], the input of W_o at
    one position per row (positions=None: the last; else a LongTensor [B] of indices, for right-padded
    batches). A second forward inside the same `with` replaces the entries."""
    config = model.config
    chosen = list(range(config.n_layer)) if layers is None else [int(layer) for layer in layers]
    for layer in chosen:
        _check_layer(model, layer, lowest=0)
    recorded: dict[int, torch.Tensor] = {}

    def recorder(layer: int):  # noqa: ANN202 - a torch forward pre-hook
        def hook(module: torch.nn.Module, args: tuple[Any, ...]) -> None:
            heads = args[0]  # [B, S, H*E]
            batch = heads.shape[0]
            if positions is None:
                picked = heads[:, -1]
            else:
                index = torch.as_tensor(positions, dtype=torch.long)
                if index.shape != (batch,):
                    raise ValueError(f"positions must have shape ({batch},), got {tuple(index.shape)}")
                picked = heads[torch.arange(batch), index]  # [B, H*E]
            recorded[layer] = picked.reshape(batch, config.n_head, config.head_dim).float().clone()

        return hook

    with ExitStack() as stack:
        for layer in chosen:
            handle = model.blocks[layer].attention.wo.register_forward_pre_hook(recorder(layer))
            stack.callback(handle.remove)
        yield recorded


@contextmanager
def block_output_steering(model: GGUFTransformer, vectors: Mapping[int, torch.Tensor]) -> Iterator[None]:
    """Adds vectors[L] ([n_embd]) to the output of block L (after the FFN residual) at every position, exactly
    where llama.cpp adds a control vector's `direction.L`. L >= 1, as in llama.cpp."""
    prepared = {}
    for layer, vector in vectors.items():
        _check_layer(model, int(layer), lowest=1)
        prepared[int(layer)] = _vector(model, vector, (model.config.n_embd,), f"vector for block {layer}")

    def adder(vector: torch.Tensor):  # noqa: ANN202 - a torch forward hook
        def hook(module: torch.nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
            return output + vector

        return hook

    with ExitStack() as stack:
        for layer, vector in prepared.items():
            stack.callback(model.blocks[layer].register_forward_hook(adder(vector)).remove)
        yield


@contextmanager
def head_steering(model: GGUFTransformer, displacements: Mapping[int, torch.Tensor]) -> Iterator[None]:
    """Adds displacements[L] ([n_head, head_dim]: one vector per head, zeros for heads left alone) to the
    input of block L's W_o at every position."""
    config = model.config
    prepared = {}
    for layer, displacement in displacements.items():
        _check_layer(model, int(layer), lowest=0)
        shape = (config.n_head, config.head_dim)
        prepared[int(layer)] = _vector(model, displacement, shape, f"displacement for layer {layer}").reshape(
            -1
        )

    def adder(flat: torch.Tensor):  # noqa: ANN202 - a torch forward pre-hook
        def hook(module: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
            return (args[0] + flat, *args[1:])

        return hook

    with ExitStack() as stack:
        for layer, flat in prepared.items():
            stack.callback(model.blocks[layer].attention.wo.register_forward_pre_hook(adder(flat)).remove)
        yield


def _check_layer(model: GGUFTransformer, layer: int, *, lowest: int) -> None:
    if not lowest <= layer < model.config.n_layer:
        raise ValueError(f"layer {layer} is outside {lowest}..{model.config.n_layer - 1}")


def _vector(model: GGUFTransformer, value: Any, shape: tuple[int, ...], what: str) -> torch.Tensor:
    tensor = torch.as_tensor(value)
    if tuple(tensor.shape) != shape:
        raise ValueError(f"{what} has shape {tuple(tensor.shape)}, expected {shape}")
    return tensor.to(model.dtype)


@contextmanager
def record_block_span_means(
    model: GGUFTransformer, starts: torch.Tensor, ends: torch.Tensor
) -> Iterator[dict[int, tuple[torch.Tensor, torch.Tensor]]]:
    """Yields a dict each forward fills: block -> (float32 [B, D] mean of the block's output over positions
    start..end-1 of each row, float32 [B] mean residual norm over positions 1..end-1 of the row). Rows are
    right-padded: positions from `ends` on are never read."""
    recorded: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def recorder(layer: int):  # noqa: ANN202 - a torch forward hook
        def hook(module: torch.nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> None:
            h = output.float()  # [B, S, D]
            pos = torch.arange(h.shape[1])[None, :]
            span = ((pos >= starts[:, None]) & (pos < ends[:, None])).float()  # [B, S]
            real = ((pos >= 1) & (pos < ends[:, None])).float()
            means = (h * span[..., None]).sum(1) / span.sum(1, keepdim=True).clamp_min(1)
            norms = (h.norm(dim=-1) * real).sum(1) / real.sum(1).clamp_min(1)
            recorded[layer] = (means, norms)

        return hook

    with ExitStack() as stack:
        for layer, block in enumerate(model.blocks):
            stack.callback(block.register_forward_hook(recorder(layer)).remove)
        yield recorded
