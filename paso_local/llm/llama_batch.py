"""Many prompts in few `llama_decode` calls: llama.cpp sequences continuing one shared prefix.

Part of the llama.cpp adapter (`paso_local.llm.runtime` opens the context and is the only caller). The prefix is
decoded once on sequence 0; each prompt's own tokens then run as their own sequence, which first receives a
copy of sequence 0's cache cells (with a unified KV cache that copy only tags the cells: no data is copied),
so every prompt attends to the prefix and to its own tokens only. Several prompts go into one batch as long
as they fit `n_batch` tokens and `n_seq_max - 1` sequences; llama.cpp keeps their attention apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from paso_local.errors import PasoError

PREFIX_SEQ = 0


class SequenceDecoder:
    """Batched prompt evaluation on one llama.cpp context; owns its `llama_batch` (free with close())."""

    def __init__(self, ctx: object, *, n_vocab: int, n_ctx: int, n_batch: int, n_seq_max: int):
        import llama_cpp

        self._api = llama_cpp
        self._ctx = ctx
        self.n_vocab, self.n_ctx, self.n_batch, self.n_seq_max = n_vocab, n_ctx, n_batch, n_seq_max
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._memory = llama_cpp.llama_get_memory(ctx)
        self.tokens_decoded = 0

    def close(self) -> None:
        batch, self._batch = self._batch, None
        if batch is not None:
            self._api.llama_batch_free(batch)

    def clear(self) -> None:
        """Drop every cached cell (after the control vector changes, the cache is stale)."""
        self._api.llama_memory_clear(self._memory, True)

    def decode_prefix(self, prefix: Sequence[int]) -> None:
        """Clear the cache and decode `prefix` on sequence 0 (no logits kept)."""
        self.clear()
        for start in range(0, len(prefix), self.n_batch):
            part = prefix[start : start + self.n_batch]
            self._fill([(PREFIX_SEQ, start, part, 0)])
            self._decode()

    def logits_after_prefix(
        self,
        prefix_length: int,
        suffixes: Sequence[Sequence[int]],
        outputs: int,
        *,
        per_batch: int = 0,
        on_done: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Logits [len(suffixes), outputs, n_vocab] at the last `outputs` tokens of each suffix, every suffix
        continuing the prefix already decoded by `decode_prefix` (of `prefix_length` tokens). `per_batch`
        caps the sequences per decode (0: as many as fit); `on_done(n)` hears after each decode that n more
        prompts are read (progress). The caller checks `check_room` first, before the prefix is decoded."""
        out = np.empty((len(suffixes), outputs, self.n_vocab), dtype=np.float32)
        for group in self._groups(prefix_length, suffixes, per_batch):
            seqs = []
            for row in group:
                seq = self._sequence_for(len(seqs))
                seqs.append((seq, prefix_length, suffixes[row], outputs))
            indices = self._fill(seqs)
            self._decode()
            for row, first in zip(group, indices, strict=True):
                for k in range(outputs):
                    pointer = self._api.llama_get_logits_ith(self._ctx, first + k)
                    out[row, k] = np.ctypeslib.as_array(pointer, shape=(self.n_vocab,))
            for seq, *_ in seqs:  # back to the prefix alone
                self._api.llama_memory_seq_rm(
                    self._memory, seq, prefix_length if seq == PREFIX_SEQ else -1, -1
                )
            if on_done is not None:
                on_done(len(group))
        return out

    def _sequence_for(self, slot: int) -> int:
        """The sequence of the batch's `slot`-th prompt: its own copy of the prefix, or, in a context of one
        sequence, the prefix's sequence itself (one prompt per decode, cut back to the prefix afterwards)."""
        if self.n_seq_max == 1:
            return PREFIX_SEQ
        seq = slot + 1
        self._api.llama_memory_seq_cp(self._memory, PREFIX_SEQ, seq, -1, -1)
        return seq

    def check_room(self, prefix_length: int, suffixes: Sequence[Sequence[int]], outputs: int) -> None:
        """Refuse, before any decode, prompts the context cannot hold."""
        longest = max((len(s) for s in suffixes), default=0)
        if any(len(s) < outputs for s in suffixes):
            raise PasoError(f"a prompt has fewer than {outputs} tokens after the shared prefix")
        if prefix_length + longest > self.n_ctx:
            raise PasoError(
                f"a question is {prefix_length + longest} tokens long, too long for the {self.n_ctx}-token "
                "context; raise --n-ctx or use a model with a longer context"
            )

    def _groups(
        self, prefix_length: int, suffixes: Sequence[Sequence[int]], per_batch: int
    ) -> Iterator[list[int]]:
        """Rows packed in order into batches of at most n_batch tokens, n_seq_max - 1 sequences and a KV
        cache holding the prefix plus every sequence of the batch."""
        room = max(self.n_seq_max - 1, 1)
        cap = room if per_batch <= 0 else min(per_batch, room)
        group: list[int] = []
        tokens = 0
        for row, suffix in enumerate(suffixes):
            size = len(suffix)
            full = tokens + size > self.n_batch or prefix_length + tokens + size > self.n_ctx
            if group and (full or len(group) >= cap):
                yield group
                group, tokens = [], 0
            if size > self.n_batch:
                raise PasoError(f"a prompt of {size} tokens exceeds the {self.n_batch}-token batch")
            group.append(row)
            tokens += size
        if group:
            yield group

    def _fill(self, seqs: Sequence[tuple[int, int, Sequence[int], int]]) -> list[int]:
        """Write (seq_id, first position, tokens, outputs at the end) into the batch; returns each
        sequence's batch index of its first output."""
        batch = self._batch
        n = 0
        firsts = []
        for seq, position, tokens, outputs in seqs:
            firsts.append(n + len(tokens) - outputs)
            for k, token in enumerate(tokens):
                batch.token[n] = int(token)
                batch.pos[n] = position + k
                batch.n_seq_id[n] = 1
                batch.seq_id[n][0] = seq
                batch.logits[n] = 1 if k >= len(tokens) - outputs else 0
                n += 1
        batch.n_tokens = n
        self.tokens_decoded += n
        return firsts

    def _decode(self) -> None:
        code = int(self._api.llama_decode(self._ctx, self._batch))
        if code != 0:
            meaning = {1: "no room in the KV cache", 2: "aborted"}.get(code, "error")
            raise PasoError(f"llama.cpp could not decode a batch (llama_decode returned {code}: {meaning})")
