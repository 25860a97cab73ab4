"""The verb corpus: WordNet source, parsing, inflection, tagging and the train/dev/test build."""
