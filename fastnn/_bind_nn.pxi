# Bindings for activations, losses and optimizer updates (csrc/activations.c, losses.c, optim.c).
