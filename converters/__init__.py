"""The torch side of paso-local: run the user's own GGUF model head by head (gguf_reader, model, hooks),
prove it matches llama.cpp (check_model), and compute, fit and export PAS control vectors. Imports torch;
`paso_local` never imports this package at module level."""
