"""Where checkpoints live, behind one small seam (`Store`)."""
