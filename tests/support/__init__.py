"""Importable test code: what test modules and conftest files share. Test modules import nothing else of tests/."""
