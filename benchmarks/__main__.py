"""``python -m benchmarks SIZE [--json PATH] [--workdir DIR] [--seed N]``."""

from benchmarks.runner import app

if __name__ == "__main__":
    app()
