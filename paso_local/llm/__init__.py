"""The model side: llama.cpp through llama-cpp-python (runtime, batching, generation, chat format, the option
readout, steered scoring), model files and GGUF headers, control vectors and steering, LoRA adapters, RPC."""
