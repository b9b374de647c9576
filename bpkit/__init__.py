"""bpkit: backpropagation from the chain rule to deep MLPs, on a small NumPy engine.

Importing bpkit imports NumPy only; matplotlib, ipywidgets and torch are imported when a
plot, a widget or a cross-check needs them.
"""

# Each block below is owned by one module; keep the names in a block sorted.
# [module]
from bpkit.module import Module, Parameter, Sequential
# [/module]
# [layers]
from bpkit.layers import Linear
# [/layers]
# [losses]
# [/losses]
# [optim]
# [/optim]
# [saving]
# [/saving]
# [gradcheck]
# [/gradcheck]
# [scalar]
# [/scalar]
# [data]
# [/data]
# [train]
# [/train]
# [diagnostics]
# [/diagnostics]
# [plot]
# [/plot]

__version__ = "0.1.0"
