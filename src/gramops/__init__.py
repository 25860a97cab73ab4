"""gramops: a declarative MLOps pipeline for an English verb-grammar tutor."""

__version__ = "0.1.0"
