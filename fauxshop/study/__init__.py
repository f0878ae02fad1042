"""Studies that measure what generated data is good for (`augmentation`: does adding synthetic
images of a rare class raise a classifier's accuracy on it?)."""
