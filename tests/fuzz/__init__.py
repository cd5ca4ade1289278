"""Property-based fuzzing of every inbound surface (issue 4, "Bad input")."""
