"""PPO (Schulman et al. 2017) with the paper's reward, as a LoRA on the GGUF model. Small and honest:

- Episode: the model's reply to one of the person's items, sampled (temperature 1) from the policy. Replies
  are short: the first token, and when it is "(" (how SmolLM2 starts about half its answers) the token
  after it. Both distributions come from one forward pass of the prompt with "(" appended
  (paso_local.converters.lora). A first token other than "(" ends the reply there (a one-token reply).
- Reward (the paper's): minus the distance between the chosen option and the person's answer,
  |value - answer|, and -6 when the reply does not parse (eval's parse of the paper's code:
  paso_local.person.questionnaire_prompt.parse_reply).
- KL penalty to the reference (the frozen GGUF model):
  reward - kl_coef * (log pi_old(reply) - log ref(reply)).
- Baseline: the mean penalised reward of the `samples` replies drawn for the same item (no value head);
  advantages are normalised by their standard deviation over the iteration.
- Clipped objective: -min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A), `inner_epochs` passes per iteration.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from paso_local.converters.lora import AnswerInputs, LoraAdapter, answer_logprobs

UNPARSABLE_REWARD = -6.0


@dataclass(frozen=True)
class PPOSettings:
    iterations: int = 3
    lr: float = 1e-3
    samples: int = 4  # replies per item per iteration
    clip: float = 0.2
    kl_coef: float = 0.05
    inner_epochs: int = 2
    batch_items: int = 16
    seed: int = 0


def reward(value: int | None, answer: int) -> float:
    """The paper's reward: -|chosen option - person's answer|, -6 for an unparsable reply."""
    return UNPARSABLE_REWARD if value is None else -abs(float(value) - float(answer))


def reference_logprobs(
    model: object, inputs: AnswerInputs, batch: int = 16
) -> tuple[torch.Tensor, torch.Tensor]:
    """Full log-softmax of the frozen model at the answer position and after "(": two float32 [N, V]."""
    first, second = [], []
    with torch.no_grad():
        for start in range(0, len(inputs.item_numbers), batch):
            rows = list(range(start, min(start + batch, len(inputs.item_numbers))))
            a, b = answer_logprobs(model, inputs, rows)
            first.append(a.float())
            second.append(b.float())
    return torch.cat(first), torch.cat(second)


def reply_logprob(
    logp1: torch.Tensor, logp2: torch.Tensor, t1: torch.Tensor, t2: torch.Tensor
) -> torch.Tensor:
    """log pi(reply) [B, K] for first tokens t1 [B, K] and second tokens t2 [B, K] (-1: none)."""
    first = logp1.gather(1, t1)
    second = logp2.gather(1, t2.clamp(min=0))
    return first + torch.where(t2 >= 0, second, torch.zeros_like(second))


def sample_replies(
    logp1: torch.Tensor, logp2: torch.Tensor, paren_token: int, samples: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """t1, t2 [B, K]: first tokens from P1; after the paren token a second from P2, else -1."""
    t1 = torch.multinomial(logp1.float().exp(), samples, replacement=True, generator=generator)
    t2 = torch.multinomial(logp2.float().exp(), samples, replacement=True, generator=generator)
    return t1, torch.where(t1 == paren_token, t2, torch.full_like(t2, -1))


class ReplyParser:
    """Reply tokens -> answer value (or None), with the paper's parse, memoised per token pair."""

    def __init__(self, detokenize: Callable[[list[int]], str]):
        from paso_local.person.questionnaire_prompt import parse_reply

        self._parse = parse_reply
        self._detokenize = detokenize
        self._memo: dict[tuple[int, int], int | None] = {}

    def __call__(self, t1: int, t2: int) -> int | None:
        key = (t1, t2)
        if key not in self._memo:
            tokens = [t1] if t2 < 0 else [t1, t2]
            self._memo[key] = self._parse(self._detokenize(tokens))
        return self._memo[key]


def reply_values(parser: ReplyParser, n_vocab: int, paren_token: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Parsed answer (1..5, 0 = unparsable) of each one-token reply [V] and of each "(" + token reply [V]."""
    first = torch.tensor([parser(t, -1) or 0 for t in range(n_vocab)])
    second = torch.tensor([parser(paren_token, t) or 0 for t in range(n_vocab)])
    return first, second


def expected_reward(
    logp1: torch.Tensor,
    logp2: torch.Tensor,
    answers: torch.Tensor,
    values: tuple[torch.Tensor, torch.Tensor],
    paren_token: int,
) -> torch.Tensor:
    """The exact expected reward [B] of a reply sampled as in training, for person's answers [B] (1..5)."""
    first, second = values

    def rewards(table: torch.Tensor) -> torch.Tensor:  # [B, V]
        r = -(table[None, :].double() - answers[:, None].double()).abs()
        return torch.where(table[None, :] > 0, r, torch.full_like(r, UNPARSABLE_REWARD))

    p1, p2 = logp1.double().exp(), logp2.double().exp()
    one_token = rewards(first)
    one_token[:, paren_token] = 0.0
    return (p1 * one_token).sum(-1) + p1[:, paren_token] * (p2 * rewards(second)).sum(-1)


def train_ppo(
    model: object,
    adapter: LoraAdapter,
    inputs: AnswerInputs,
    answers: Mapping[int, int],
    numbers: Sequence[int],
    reference: tuple[torch.Tensor, torch.Tensor],
    parser: ReplyParser,
    paren_token: int,
    settings: PPOSettings,
    *,
    on_iteration: Callable[[int], None] | None = None,
    on_step: Callable[[], None] | None = None,
) -> list[float]:
    """Train `adapter` in place on the items `numbers` the person answered; returns the mean (unpenalised)
    reward of the sampled replies of each iteration."""
    numbers = [n for n in numbers if int(answers.get(n, 0)) > 0]
    generator = torch.Generator().manual_seed(settings.seed)
    order = random.Random(settings.seed)
    optimizer = torch.optim.AdamW(adapter.parameters(), lr=settings.lr, weight_decay=0.0)
    ref1, ref2 = reference
    mean_rewards = []
    for iteration in range(1, settings.iterations + 1):
        # rollouts under the current policy
        episodes = []
        rewards_seen = []
        for start in range(0, len(numbers), settings.batch_items):
            chunk = numbers[start : start + settings.batch_items]
            rows = inputs.rows(chunk)
            with torch.no_grad(), adapter.attached(model):
                logp1, logp2 = answer_logprobs(model, inputs, rows)
            t1, t2 = sample_replies(logp1, logp2, paren_token, settings.samples, generator)
            old = reply_logprob(logp1, logp2, t1, t2).float()
            rows_t = torch.tensor(rows)
            ref = reply_logprob(ref1[rows_t], ref2[rows_t], t1, t2)
            raw = torch.tensor(
                [
                    [
                        reward(parser(int(a), int(b)), int(answers[n]))
                        for a, b in zip(t1[i], t2[i], strict=True)
                    ]
                    for i, n in enumerate(chunk)
                ]
            )
            rewards_seen.append(raw)
            shaped = raw - settings.kl_coef * (old - ref)
            advantage = shaped - shaped.mean(dim=1, keepdim=True)  # per-item baseline over its samples
            episodes.append((rows, t1, t2, old, advantage))
        scale = torch.cat([e[4].flatten() for e in episodes]).std().clamp(min=1e-6)
        mean_rewards.append(float(torch.cat([r.flatten() for r in rewards_seen]).mean()))
        # clipped policy-gradient updates on those rollouts
        for _ in range(settings.inner_epochs):
            order.shuffle(episodes)
            for rows, t1, t2, old, advantage in episodes:
                with torch.enable_grad(), adapter.attached(model):
                    logp1, logp2 = answer_logprobs(model, inputs, rows)
                    new = reply_logprob(logp1, logp2, t1, t2).float()
                    ratio = (new - old).exp()
                    a = advantage / scale
                    loss = -torch.min(ratio * a, ratio.clamp(1 - settings.clip, 1 + settings.clip) * a).mean()
                    optimizer.zero_grad()
                    loss.backward()
                optimizer.step()
                if on_step is not None:
                    on_step()
        if on_iteration is not None:
            on_iteration(iteration)
    return mean_rewards
