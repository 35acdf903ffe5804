"""CLI and orchestration of optimizer studies; the only package that imports ray."""
