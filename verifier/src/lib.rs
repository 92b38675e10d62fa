//! Native verification of OpenSSF model signatures (the `model_signing` format).
