"""gramops: a declarative MLOps pipeline for an English verb-grammar tutor.

The package map is docs/architecture.md; this face holds no code, so importing any room
of the house runs nothing but that room and what it imports.
"""
