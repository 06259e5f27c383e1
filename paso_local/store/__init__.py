"""What is kept on disk, below everything else: paths, atomic storage, config, conversations, and the
process memory figures. It imports nothing of the model or the person."""
