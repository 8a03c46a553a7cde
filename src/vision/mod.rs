//! Face models on the CPU with tract: detect, align, embed, landmarks, liveness, quality.
