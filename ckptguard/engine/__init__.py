"""One cycle over a store: look, plan, apply through an executor."""
