"""One runner per level, each handing the shared training driver (gbench.train.loop.train) its batches, loss and
scoring."""
