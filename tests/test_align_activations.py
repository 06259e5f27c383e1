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
        for name in ("run_blocks", "run_block_after_prefix"):
            original = getattr(net, name)

            def counted(*args, original=original, **kwargs):
                calls["blocks"] += 1
                return original(*args, **kwargs)

            setattr(net, name, counted)
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
    ran = calls["blocks"]
    assert not hit and calls["load"] == 1 and ran and ran % 30 == 0  # batches, block by block
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
    assert hit and calls == {"load": 1, "blocks": ran}
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


def test_the_shared_prefix_pass_records_what_the_padded_one_does(smollm2_path, chat_and_tokens):
    """An item's A, E and "(" prompts differ in the last token only: computing their common part once gives
    every record of the full padded pass (batches of mixed lengths there, equal lengths here)."""
    from paso_local.converters.activations import (
        differ_in_last_token_only,
        item_prompts,
        padded_activations,
        shared_prefix_activations,
    )
    from paso_local.converters.model import load_model
    from paso_local.person.questionnaire_prompt import SYSTEM_PROMPT

    chat, tokens = chat_and_tokens
    items = form_items("120")[:10]
    prompts = item_prompts(chat, items, tokens, SYSTEM_PROMPT)
    assert differ_in_last_token_only(*prompts) and len({len(p) for p in prompts[2]}) > 1
    net = load_model(smollm2_path, dtype=torch.float32, cache_blocks=2)  # far fewer than its 30 blocks
    args = (net, chat, items, tokens, 12, prompts, 4, False)
    shared = shared_prefix_activations(*args)
    # block by block over every batch: each block dequantised once, though only two fit in the cache
    assert net.weights.block_loads == net.config.n_layer and net.weights.resident_blocks == []
    padded = padded_activations(*args)
    for field in ("agree", "disagree", "agree_blocks", "disagree_blocks", "residual_norm"):
        np.testing.assert_allclose(getattr(shared, field), getattr(padded, field), rtol=1e-4, atol=2e-3)
    for row, length in enumerate(padded.paren_lengths):  # past a prompt's length: padding, never read
        np.testing.assert_allclose(
            shared.checkpoint[row, :length], padded.checkpoint[row, :length], atol=2e-3
        )
    np.testing.assert_allclose(shared.base_dist, padded.base_dist, atol=1e-4)
    np.testing.assert_array_equal(shared.paren_tokens, padded.paren_tokens)
    # the common part once and three last tokens, against three padded prompts
    assert shared.forward_tokens == sum(len(p) for p in prompts[2]) + 2 * len(items)
    assert 2.9 * shared.forward_tokens < padded.forward_tokens


def test_prompts_that_differ_before_their_last_token_take_the_padded_pass():
    from paso_local.converters.activations import differ_in_last_token_only, equal_length_batches

    assert differ_in_last_token_only([[1, 2, 3]], [[1, 2, 4]], [[1, 2, 5]])
    assert not differ_in_last_token_only([[1, 2, 3]], [[1, 9, 4]], [[1, 2, 5]])
    assert not differ_in_last_token_only([[1, 2, 3]], [[1, 2, 4, 4]], [[1, 2, 5]])
    assert equal_length_batches([[1], [1, 2], [3], [4], [5, 6]], 2) == [[0, 2], [3], [1, 4]]
