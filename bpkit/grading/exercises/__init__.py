"""The checks of bpkit's own exercises: one module per exercise, listed here explicitly.

``MODULES`` maps an exercise id (the ``metadata["bpkit"]["exercise"]`` of its notebook) to
the module that registers its checks with ``bpkit.grading.register_check``. The module is
imported the first time the exercise's checks are asked for. To add an exercise, write
``bpkit/grading/exercises/ex<NN_slug>.py`` (a module name cannot start with a digit) and add
a line here, e.g. ``"03_linear_layer": "bpkit.grading.exercises.ex03_linear_layer"``.
"""

__all__ = ["MODULES"]

MODULES: dict[str, str] = {
    "01_chain_rule": "bpkit.grading.exercises.ex01_chain_rule",
    "02_value_backward": "bpkit.grading.exercises.ex02_value_backward",
    "03_linear_layer": "bpkit.grading.exercises.ex03_linear_layer",
    "04_activations": "bpkit.grading.exercises.ex04_activations",
    "05_softmax_cross_entropy": "bpkit.grading.exercises.ex05_softmax_cross_entropy",
    "06_gradient_checker": "bpkit.grading.exercises.ex06_gradient_checker",
    "07_train_an_mlp": "bpkit.grading.exercises.ex07_train_an_mlp",
    "08_optimizers": "bpkit.grading.exercises.ex08_optimizers",
    "09_batchnorm": "bpkit.grading.exercises.ex09_batchnorm",
    "10_dropout": "bpkit.grading.exercises.ex10_dropout",
    "11_deep_mlp_digits": "bpkit.grading.exercises.ex11_deep_mlp_digits",
}
