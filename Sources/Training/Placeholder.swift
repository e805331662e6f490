// Training: see the issue for scope; replaced by the real sources.
