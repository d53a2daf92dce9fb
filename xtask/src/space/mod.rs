//! What `generate` renders: the Space folder, in memory.
