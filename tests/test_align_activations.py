"""paso_local.converters.activations on SmolLM2: A/E/readout prompts, the cache (a hit runs no forward pass)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from paso_local.person.inventory import form_items

pytestmark = pytest.mark.model

ITEMS = form_items("120")[:3]


@pytest.fixture(scope="module")
def chat_and_tokens(smollm2_path):
    from paso_local.llm.chat_format import ChatFormat
    from paso_local.llm.readout import OptionTokens

    chat = ChatFormat.from_model(smollm2_path)
    return chat, OptionTokens.from_chat_format(chat)


def test_cache_hit_does_no_forward_pass(smollm2_path, chat_and_tokens, paso_home):
    from paso_local.converters.activations import activation_cache_path, item_activations
    from paso_local.converters.model import load_model

    chat, tokens = chat_and_tokens
    calls = {"load": 0, "blocks": 0}

    def loader():
        calls["load"] += 1
        net = load_model(smollm2_path, dtype=torch.float32, cache_blocks=30)
        original = net.run_blocks

        def counted(*args, **kwargs):
            calls["blocks"] += 1
            return original(*args, **kwargs)

        net.run_blocks = counted
        return net

    first, hit = item_activations(
        smollm2_path,
        ITEMS,
        12,
        load_model=loader,
        load_chat_format=lambda: chat,
        load_tokens=lambda: tokens,
        show_progress=False,
    )
    assert not hit and calls["load"] == 1 and calls["blocks"] == 30  # one batch, block by block
    assert first.agree.shape == (3, 30, 9, 64) and first.checkpoint_block == 12
    assert not np.allclose(first.agree, first.disagree)
    np.testing.assert_allclose(first.base_dist.sum(axis=1), 1.0, atol=1e-9)
    assert ((first.base_mass > 0) & (first.base_mass <= 1)).all()
    # the readout prompts end with "(" after the plain prompt
    last = first.paren_tokens[np.arange(3), first.paren_lengths - 1]
    assert (last == tokens.paren_token).all()

    def refuse():
        raise AssertionError("a cache hit must not load the model")

    second, hit = item_activations(
        smollm2_path,
        ITEMS,
        12,
        load_model=refuse,
        load_chat_format=refuse,
        load_tokens=refuse,
        show_progress=False,
    )
    assert hit and calls == {"load": 1, "blocks": 30}
    np.testing.assert_array_equal(second.agree, first.agree)
    np.testing.assert_array_equal(second.checkpoint, first.checkpoint)
    assert list(paso_home.rglob("*.npz")) == [
        activation_cache_path(next(iter(p.stem for p in paso_home.rglob("*.npz"))))
    ]

    # another item set or checkpoint is another cache entry: computed again
    _, hit = item_activations(
        smollm2_path,
        ITEMS[:2],
        12,
        load_model=loader,
        load_chat_format=lambda: chat,
        load_tokens=lambda: tokens,
        show_progress=False,
    )
    assert not hit and calls["load"] == 2


def test_activations_match_a_plain_forward(smollm2_path, chat_and_tokens):
    """The recorded head inputs are those of a single-row forward (padding in the batch changes nothing)."""
    from paso_local.converters.activations import compute_item_activations
    from paso_local.converters.hooks import record_head_inputs
    from paso_local.converters.model import load_model
    from paso_local.person.questionnaire_prompt import item_messages

    chat, tokens = chat_and_tokens
    net = load_model(smollm2_path, dtype=torch.float32, cache_blocks=30)
    acts = compute_item_activations(net, chat, ITEMS, tokens, 12, show_progress=False)
    ids = chat.encode_chat(item_messages(ITEMS[1]), assistant_prefix="E")
    with torch.inference_mode(), record_head_inputs(net, layers=[5, 20]) as recorded:
        net.run_blocks(net.embed(torch.tensor([ids])))
    np.testing.assert_allclose(acts.disagree[1, 5], recorded[5][0].numpy(), atol=1e-4)
    np.testing.assert_allclose(acts.disagree[1, 20], recorded[20][0].numpy(), atol=1e-4)
    # block outputs at the letter, from the checkpoint block on (the residual-stream mean difference)
    with torch.inference_mode():
        h = net.run_blocks(net.embed(torch.tensor([ids])), 0, 18)
    assert acts.disagree_blocks.shape == (len(ITEMS), 30 - 12, net.config.n_embd)
    np.testing.assert_allclose(acts.disagree_blocks[1, 18 - 1 - 12], h[0, -1].numpy(), atol=1e-3)
    assert not np.allclose(acts.agree_blocks[1, 5], acts.disagree_blocks[1, 5])
