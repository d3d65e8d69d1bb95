"""yoyo SQL migrations, shipped as package data (see pyproject)."""
