"""`paso-local eval`: the paper's protocol (120 items to align, 180 held out and scored) through llama.cpp.

Modules: `split` (alignment and held-out answers of a subject), `references` (predictors that need no
language model), `methods` (what each method puts in the system prompt), `asking` (the 180 questions
through llama.cpp), `aligning` (what eval needs from align: an interface the CLI fills with paso_local.converters.eval_aligner), `metrics` (Aligned Score and within-person
correlation), `results` (tables and JSON), `command` (the CLI).
"""
