"""`paso-local assess`: open-ended assessment. The steered assistant answers each held-out statement in free
text; a local judge model rates, on a six-level rubric, how well each reply matches the person's own answer
(read from the judge's next-token distribution over "1".."6"), after the judge has shown on the same
statements that it tells strongly agreeing replies from strongly disagreeing ones. Beside it: the replies'
coherence (perplexity under the unsteered model, empty / truncated / repetitive, length) and a judge-free
round trip (the questionnaire item asked right after the model's own reply)."""
