"""The VideoQA model: encoders, the two augmented memories, attention, heads, trace."""
