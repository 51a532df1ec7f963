"""Selection service (精准施训): before training — classes, scope, recommendation, confirmation."""
