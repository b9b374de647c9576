"""Interactive ipywidgets apps for the notebooks (imports ipywidgets and matplotlib).

Each app keeps its state in plain attributes so tests can drive it without a browser:
set a control's ``.value`` or ``.click()`` a button, then look at ``app.state`` and
``app.figure``. Display one by making it the last expression of a cell.
"""

from bpkit.widgets._app import WidgetApp
from bpkit.widgets.activations import ActivationExplorer
from bpkit.widgets.depth_explorer import DepthExplorer
from bpkit.widgets.derivative import DerivativeExplorer
from bpkit.widgets.descent import DescentExplorer
from bpkit.widgets.digit_browser import DigitBrowser
from bpkit.widgets.exercise_activations import ActivationBackwardExplorer
from bpkit.widgets.exercise_batchnorm import BatchNormTrainer
from bpkit.widgets.exercise_chain_rule import ChainRuleExplorer
from bpkit.widgets.exercise_deep_mlp_digits import DigitsPipeline
from bpkit.widgets.exercise_dropout import DropoutLab
from bpkit.widgets.exercise_gradient_checker import GradientCheckerLab
from bpkit.widgets.exercise_linear_layer import LinearLayerTrainer
from bpkit.widgets.exercise_optimizers import YourOptimizerRace
from bpkit.widgets.exercise_softmax_cross_entropy import SoftmaxLossExplorer
from bpkit.widgets.exercise_train_an_mlp import SpiralLoop
from bpkit.widgets.exercise_value_backward import BackpropStepper
from bpkit.widgets.gradcheck_explorer import GradcheckExplorer
from bpkit.widgets.graph_stepper import GraphStepper
from bpkit.widgets.mlp_trainer import MLPTrainer
from bpkit.widgets.optimizer_race import OptimizerRace
from bpkit.widgets.playground import Playground
from bpkit.widgets.regularization import RegularizationExplorer
from bpkit.widgets.shapes import ShapeExplorer
from bpkit.widgets.side_by_side import SideBySide

__all__ = [
    "ActivationBackwardExplorer",
    "ActivationExplorer",
    "BackpropStepper",
    "BatchNormTrainer",
    "ChainRuleExplorer",
    "DepthExplorer",
    "DerivativeExplorer",
    "DescentExplorer",
    "DigitBrowser",
    "DigitsPipeline",
    "DropoutLab",
    "GradcheckExplorer",
    "GradientCheckerLab",
    "GraphStepper",
    "LinearLayerTrainer",
    "MLPTrainer",
    "OptimizerRace",
    "Playground",
    "RegularizationExplorer",
    "ShapeExplorer",
    "SideBySide",
    "SoftmaxLossExplorer",
    "SpiralLoop",
    "WidgetApp",
    "YourOptimizerRace",
]
