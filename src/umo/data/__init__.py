"""Training data: the motion layout of the model, corpus synthesis, importers, shards, augmentation."""
