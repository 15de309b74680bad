"""One runner per level over the shared epoch loop (gbench.train.loop)."""
