"""Built-in themes, shipped as package data (see pyproject)."""
