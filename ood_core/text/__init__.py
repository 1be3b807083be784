"""Text stage: WordNet 3.0 reader, the wild corpus of negative-label candidates, prompts, ImageNet names."""
