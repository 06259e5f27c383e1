"""PAS on the real torch model (SmolLM2): the W_o fold against an explicit per-head intervention, and the
strength search's block-output steering against the shared llama.cpp-semantics hook."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def model(smollm2_path):
    from paso_local.converters.model import load_model

    net = load_model(smollm2_path, dtype=torch.float32, cache_blocks=30)
    yield net
    net.close()


@pytest.fixture(scope="module")
def tokens(smollm2_path):
    from paso_local.llm.chat_format import ChatFormat

    chat = ChatFormat.from_model(smollm2_path)
    ids = chat.encode_chat([{"role": "user", "content": "Do you like large parties?"}], assistant_prefix="(")
    return torch.tensor([ids])


def test_fold_through_wo_equals_per_head_intervention(model, tokens):
    from paso_local.converters.hooks import head_steering
    from paso_local.converters.pas import fold_through_wo

    cfg = model.config
    layer = 12
    rng = np.random.default_rng(0)
    heads = [(layer, 2), (layer, 7)]
    disp = rng.normal(scale=2.0, size=(2, cfg.head_dim)).astype(np.float32)
    per_head = torch.zeros(cfg.n_head, cfg.head_dim)
    per_head[2], per_head[7] = torch.from_numpy(disp[0]), torch.from_numpy(disp[1])
    with torch.inference_mode():
        plain = model(tokens)
        with head_steering(model, {layer: per_head}):
            by_head = model(tokens)
    folded = fold_through_wo(heads, disp, lambda i: model.attn_output_weight(i).numpy(), cfg.head_dim)
    add = torch.from_numpy(folded[layer])

    def at_attention_output(_module, _inputs, output):
        return output + add  # W_o @ displacement added where the heads' outputs join the residual stream

    handle = model.blocks[layer].attention.register_forward_hook(at_attention_output)
    try:
        with torch.inference_mode():
            by_fold = model(tokens)
    finally:
        handle.remove()
    assert (by_head - plain).abs().max() > 0.05  # the intervention does something
    torch.testing.assert_close(by_fold, by_head, atol=2e-3, rtol=1e-4)


def test_strength_search_steering_matches_block_output_hook(model, tokens):
    """paso_local.converters.strength adds direction.L after block L exactly as the shared llama.cpp-semantics hook."""
    from paso_local.converters.activations import ItemActivations
    from paso_local.converters.hooks import block_output_steering
    from paso_local.converters.strength import steered_distributions
    from paso_local.llm.readout import OptionTokens, option_distribution

    cfg = model.config
    rng = np.random.default_rng(1)
    vector = {b: rng.normal(scale=3.0, size=cfg.n_embd).astype(np.float32) for b in (14, 20)}
    start = 10
    with torch.inference_mode():
        checkpoint = model.run_blocks(model.embed(tokens), 0, start)
        with block_output_steering(model, {b: torch.from_numpy(v) for b, v in vector.items()}):
            logits = model(tokens)[0].numpy()
    n = tokens.shape[1]
    pieces = [""] * cfg.vocab_size
    for t, p in enumerate(("A", "B", "C", "D", "E", "(")):
        pieces[t] = p
    option_tokens = OptionTokens.from_pieces(pieces)
    acts = ItemActivations(
        item_numbers=np.array([1]),
        agree=np.zeros((1, 1, 1, 1)),
        disagree=np.zeros((1, 1, 1, 1)),
        paren_tokens=tokens.numpy(),
        paren_lengths=np.array([n]),
        checkpoint_block=start,
        checkpoint=checkpoint.numpy(),
        base_dist=np.zeros((1, 5)),
        base_mass=np.zeros(1),
        residual_norm=np.ones(cfg.n_layer),
    )
    dist, mass = steered_distributions(model, acts, np.array([0]), vector, option_tokens)
    want_dist, want_mass = option_distribution(logits[n - 2], logits[n - 1], option_tokens)
    np.testing.assert_allclose(dist[0], want_dist, atol=1e-4)
    np.testing.assert_allclose(mass[0], want_mass, rtol=1e-3)
