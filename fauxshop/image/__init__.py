"""The image half of fauxshop: StyleGAN2 networks, training and checkpoints for product photos."""
