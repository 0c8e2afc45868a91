"""numba kernels: arrays in, preallocated arrays out; no validation, no allocation in hot loops."""
