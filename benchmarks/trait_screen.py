"""The trait-content screen (paso_local.evaluation.trait_screen) over candidate directions (paso_local.converters.trait_directions).

Model-level, no person's answers: each candidate gives one direction per Big Five domain, built from the
120-form items; each direction is put on the llama.cpp context at a grid of strengths (align's units) and the
held-out items of the 300 form are scored. Reported per domain: sel, tau, max |leak|, knob, mass kept.

    .venv/bin/python benchmarks/trait_screen.py --model PATH --json out.json \
        [--candidates says@B,says@band,reads@B,pca@B,heads,persona@B,reply@B] [--block B] [--per-key N] \
        [--strengths 0.05,0.1,0.2,0.4] [--threads 1]

Candidates (B: --block, default 0.6 x n_layer; band: B-2..B+2):
  says@X   statement said by the assistant, mean over its tokens, +keyed - -keyed (X: B, band or a number)
  reads@X  the same statement read in the user's turn
  pca@X    first principal component of the said statements' +/- pair differences
  heads    PAS's head probe on the item's key (statement's last token), top --heads heads, W_o fold
  persona@X  high-pole minus low-pole system prompt, at the answer position of --persona-items 120-form items
  reply@X  the same poles over the model's own greedy replies to neutral questions (llama.cpp generates them)
--json is rewritten after every candidate; a rerun skips the candidates it already holds (resume).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from paso_local.evaluation.trait_screen import SCREEN_STRENGTHS, ScreenResult, run_screen, screen_items
from paso_local.llm.modelfiles import resolve_model
from paso_local.person.inventory import DOMAINS, form_items
from paso_local.store.storage import atomic_write_bytes

DEFAULT_CANDIDATES = "says@B,says@band,reads@B,pca@B,heads,persona@B"
REPLY_TOKENS = 40


def blocks_for(spec: str, block: int, n_layer: int) -> list[int]:
    if spec == "B":
        return [block]
    if spec == "band":
        return [b for b in range(block - 2, block + 3) if 1 <= b < n_layer]
    return [int(spec)]


class Builder:
    """Builds candidates' directions with the torch model, loading it (and each feature pass) once."""

    def __init__(self, model_path: Path, block: int, heads: int, persona_items: int, threads: int | None):
        from paso_local.converters.gguf_reader import read_config

        self.model_path = model_path
        self.config = read_config(model_path)
        self.block = block
        self.heads = heads
        self.items = form_items("120")
        self.persona_items = self.items[:: max(1, len(self.items) // persona_items)][:persona_items]
        self.threads = threads
        self._model = None
        self._chat = None
        self._features: dict = {}

    @property
    def model(self):
        if self._model is None:
            from paso_local.converters.align_inputs import load_torch_model

            self._model = load_torch_model(self.model_path)
        return self._model

    @property
    def chat(self):
        if self._chat is None:
            from paso_local.llm.chat_format import ChatFormat

            self._chat = ChatFormat.from_model(self.model_path)
        return self._chat

    def features(self, key: str, rows_fn):
        from paso_local.converters.trait_directions import span_features

        if key not in self._features:
            self._features[key] = span_features(self.model, rows_fn(), self.chat.eos_token_id, key)
        return self._features[key]

    def statements(self, voice: str):
        from paso_local.converters.trait_directions import statement_rows

        return self.features(f"statements ({voice})", lambda: statement_rows(self.chat, self.items, voice))

    def build(self, name: str) -> tuple[dict, np.ndarray]:
        """(directions per domain, block -> vector, in natural units; the residual norm for strength units)"""
        from paso_local.converters import trait_directions as td

        kind, _, where = name.partition("@")
        blocks = blocks_for(where or "B", self.block, self.config.n_layer)
        if kind in ("says", "reads", "pca"):
            feats = self.statements("reads" if kind == "reads" else "says")
            how = "pca" if kind == "pca" else "mean"
            return td.block_directions(feats, self.items, blocks, how), feats.residual_norm
        if kind == "heads":
            return self.head_probe(), self.statements("says").residual_norm
        if kind in ("persona", "reply"):
            return self.persona(kind, blocks)
        raise SystemExit(f"unknown candidate {name!r}")

    def head_probe(self) -> dict:
        from paso_local.converters import trait_directions as td
        from paso_local.converters.align_inputs import PLACEMENT_SHIFT, WoCache, first_eligible_layer
        from paso_local.converters.statement_activations import compute_statement_activations

        acts = compute_statement_activations(self.model, self.chat, self.items)
        min_layer = first_eligible_layer(self.config.n_layer)
        return td.head_probe_directions(
            acts, self.items, self.heads, WoCache(lambda: self.model), min_layer, PLACEMENT_SHIFT
        )

    def persona(self, kind: str, blocks: list[int]) -> tuple[dict, np.ndarray]:
        from paso_local.converters import trait_directions as td

        out, norms = {}, []
        for domain in DOMAINS:
            feats = []
            for pole, prompt in zip(("high", "low"), td.PERSONA_POLES[domain], strict=True):
                if kind == "persona":
                    rows = lambda p=prompt: td.persona_answer_rows(self.chat, self.persona_items, p)  # noqa: E731
                else:
                    replies = self.replies(prompt)
                    rows = lambda p=prompt, r=replies: td.persona_reply_rows(self.chat, p, r)  # noqa: E731
                feats.append(self.features(f"{kind} {domain} {pole}", rows))
            out[domain] = td.pole_difference(feats[0], feats[1], blocks)
            norms.append(feats[0].residual_norm)
        return out, np.mean(norms, axis=0)

    def replies(self, system_prompt: str) -> list[str]:
        from paso_local.converters.trait_directions import NEUTRAL_QUESTIONS
        from paso_local.llm.generation import Sampling
        from paso_local.llm.runtime import Runtime

        greedy = Sampling(temperature=0.0, max_tokens=REPLY_TOKENS)
        with Runtime.open(self.model_path, n_ctx=1024, n_threads=self.threads) as runtime:
            return [
                runtime.stream_chat(
                    [{"role": "system", "content": system_prompt}, {"role": "user", "content": q}],
                    sampling=greedy,
                ).collect()
                for q in NEUTRAL_QUESTIONS
            ]

    def close(self) -> None:
        if self._model is not None:
            self._model.close()
            self._model = None


def summary_rows(result: dict) -> list[list[str]]:
    """Per domain: the point with the largest tau among those keeping half the mass."""
    rows = []
    for domain in DOMAINS:
        kept = [p for p in result["points"] if p["domain"] == domain and p["mass_ratio"] >= 0.5]
        if not kept:
            rows.append([domain, "-", "-", "-", "-", "-", "-", "mass lost"])
            continue
        p = max(kept, key=lambda q: q["tau"])
        rows.append(
            [
                domain,
                f"{p['strength']:g}",
                f"{p['sel']:+.3f} ({p['sel_se']:.3f})",
                f"{p['tau']:+.3f}",
                f"{p['max_leak']:.3f}",
                f"{p['knob']:+.3f}",
                f"{p['mass_ratio']:.2f}",
                "PASS" if p["passes"] else "fail",
            ]
        )
    return rows


def print_document(doc: dict, console: Console) -> None:
    for name, result in doc["candidates"].items():
        verdict = "passes" if result["passes"] else "fails"
        table = Table(title=f"{name}: {result['how']} ({verdict}; {result['seconds']:.0f} s)")
        for col in ("domain", "s", "sel (se)", "tau", "max|leak|", "knob", "mass kept", ""):
            table.add_column(col)
        for row in summary_rows(result):
            table.add_row(*row)
        console.print(table)


def describe(name: str, block: int, n_layer: int, heads: int, persona_items: int) -> str:
    kind, _, where = name.partition("@")
    blocks = blocks_for(where or "B", block, n_layer) if kind != "heads" else []
    at = f"block {blocks[0]}" if len(blocks) == 1 else f"blocks {blocks[0]}-{blocks[-1]}" if blocks else ""
    return {
        "says": f"statement said, mean over its tokens, {at}",
        "reads": f"statement read in the user's turn, {at}",
        "pca": f"PCA of said-statement pair differences, {at}",
        "heads": f"head probe on the key, top {heads} heads, W_o fold",
        "persona": f"high - low persona prompt at the answer position ({persona_items} items), {at}",
        "reply": f"high - low persona over greedy replies to neutral questions, {at}",
    }[kind]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model")
    parser.add_argument("--json", required=True)
    parser.add_argument("--candidates", default=DEFAULT_CANDIDATES)
    parser.add_argument("--block", type=int)
    parser.add_argument("--heads", type=int, default=24)
    parser.add_argument("--persona-items", type=int, default=24)
    parser.add_argument("--per-key", type=int)
    parser.add_argument("--strengths", default=",".join(str(s) for s in SCREEN_STRENGTHS))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    model_path = resolve_model(args.model)
    out = Path(args.json)
    doc = json.loads(out.read_text()) if out.is_file() else {}
    strengths = [float(s) for s in args.strengths.split(",")]
    items = screen_items(args.per_key)
    builder = Builder(model_path, 0, args.heads, args.persona_items, args.threads)
    n_layer = builder.config.n_layer
    block = args.block if args.block is not None else round(0.6 * n_layer)
    builder.block = block
    doc.setdefault("model", model_path.name)
    doc.setdefault("items", [i.number for i in items])
    if doc["items"] != [i.number for i in items]:
        raise SystemExit(f"{out} was screened on other items: use another --json or the same --per-key")
    doc.setdefault("candidates", {})
    todo = [c for c in args.candidates.split(",") if c and c not in doc["candidates"]]
    built = {}
    for name in todo:  # torch first, then free it before llama.cpp scores
        started = time.perf_counter()
        directions, norm = builder.build(name)
        built[name] = (directions, norm, time.perf_counter() - started)
    builder.close()
    if todo:
        screen_all(doc, built, items, strengths, model_path, args, block, n_layer, out)
    print_document(doc, Console())


def screen_all(doc, built, items, strengths, model_path, args, block, n_layer, out) -> None:
    from paso_local.converters.trait_directions import cosine_table, unit_directions
    from paso_local.llm.steered_scoring import SteeredScorer, open_scoring_runtime
    from paso_local.progress import progress_bar

    runtime = open_scoring_runtime(model_path, threads=args.threads)
    scorer = SteeredScorer(runtime)
    try:
        base = scorer.score(items, None)
        doc["base"] = {"expected": base.expected.round(4).tolist(), "mass": base.mass.round(4).tolist()}
        total = len(built) * len(DOMAINS) * len(strengths) * len(items)
        with progress_bar("trait screen", total) as bar:
            for name, (directions, norm, build_seconds) in built.items():
                bar.describe(name)
                started = time.perf_counter()
                units = unit_directions(directions, norm)
                result: ScreenResult = run_screen(
                    scorer, items, units, strengths, base=base, on_scored=bar.advance
                )
                doc["candidates"][name] = {
                    "how": describe(name, block, n_layer, args.heads, args.persona_items),
                    "blocks": sorted({b for v in directions.values() for b in v}),
                    "natural_size": {
                        d: round(
                            float(sum(np.linalg.norm(x) for x in v.values()) / np.mean([norm[b] for b in v])),
                            4,
                        )
                        for d, v in directions.items()
                        if v
                    },
                    "cosines": cosine_table(directions),
                    **result.as_json(),
                    "seconds": round(build_seconds + time.perf_counter() - started, 1),
                    "build_seconds": round(build_seconds, 1),
                }
                atomic_write_bytes(out, json.dumps(doc, indent=1).encode("utf-8"))
    finally:
        runtime.close()


if __name__ == "__main__":
    main()
