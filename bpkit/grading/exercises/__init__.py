"""The checks of bpkit's own exercises: one module per exercise, listed here explicitly.

``MODULES`` maps an exercise id (the ``metadata["bpkit"]["exercise"]`` of its notebook) to
the module that registers its checks with ``bpkit.grading.register_check``. The module is
imported the first time the exercise's checks are asked for. To add an exercise, write
``bpkit/grading/exercises/<NN_slug>.py`` and add a line here, e.g.
``"03_linear_layer": "bpkit.grading.exercises.03_linear_layer"``.
"""

__all__ = ["MODULES"]

MODULES: dict[str, str] = {}
