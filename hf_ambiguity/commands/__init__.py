"""Sub-commands of the ``hf-ambiguity`` CLI; each module defines ``register(subparsers)``."""
