"""Tests for bpkit.module: Parameter, Module discovery and state, Sequential."""

from __future__ import annotations

import numpy as np
import pytest

import bpkit as bp
from bpkit.layers import BatchNorm1d, Dropout, Linear, ReLU
from bpkit.module import Module, Parameter, Sequential


class TwoBranch(Module):
    """A hand-written module with a direct child, a list of children and its own parameter."""

    def __init__(self) -> None:
        self.scale = Parameter(np.ones(2), "scale")
        self.first = Linear(3, 2, rng=0)
        self.blocks = [Linear(2, 2, rng=1), BatchNorm1d(2)]

    def forward(self, x):
        x = self.first(x) * self.scale.data
        for block in self.blocks:
            x = block(x)
        return x


def mlp() -> Sequential:
    rng = np.random.default_rng(0)
    return Sequential(Linear(2, 4, rng=rng), ReLU(), BatchNorm1d(4), Linear(4, 3, rng=rng))


# -- Parameter -----------------------------------------------------------------------------
def test_parameter_copies_its_data_and_starts_with_zero_grad():
    source = np.array([1.0, 2.0])
    p = Parameter(source, "w")
    source[0] = 99.0
    assert p.data[0] == 1.0
    assert p.grad.shape == p.shape == (2,) and p.grad.dtype == p.dtype == np.float64
    assert not p.grad.any() and p.size == 2
    assert repr(p) == "Parameter(w, shape=(2,), dtype=float64)"


def test_parameter_refuses_integer_data():
    with pytest.raises(TypeError, match=r"Parameter 'w' needs a floating-point array.*int64"):
        Parameter(np.arange(3), "w")


def test_unnamed_parameter_error_shows_no_empty_name():
    with pytest.raises(TypeError, match=r"^Parameter needs a floating-point array"):
        Parameter(np.arange(3))


def test_parameter_zero_grad_and_astype_keep_the_arrays_consistent():
    p = Parameter(np.ones(3))
    grad = p.grad
    grad += 5
    p.zero_grad()
    assert p.grad is grad and not grad.any()
    assert p.astype(np.float32) is p
    assert p.data.dtype == p.grad.dtype == np.float32


# -- discovery and naming ------------------------------------------------------------------
def test_parameters_are_found_in_assignment_order_with_dotted_names():
    model = TwoBranch()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["scale", "first.weight", "first.bias", "blocks.0.weight", "blocks.0.bias",
                     "blocks.1.weight", "blocks.1.bias"]
    assert [p for _, p in model.named_parameters()] == model.parameters()
    assert [name for name, _ in model.named_buffers()] == ["blocks.1.running_mean",
                                                           "blocks.1.running_var"]
    assert [name for name, _ in model.named_modules()] == ["", "first", "blocks.0", "blocks.1"]
    assert model.children() == [model.first, *model.blocks]
    assert model.num_parameters() == 2 + 8 + 6 + 4


def test_tied_parameter_is_listed_once_so_an_optimiser_accepts_it():
    # Weight tying: two layers share one Parameter; PyTorch lists it once in parameters().
    first, second = Linear(3, 3, rng=0), Linear(3, 3, rng=1)
    second.weight = first.weight
    model = Sequential(first, ReLU(), second)
    assert [name for name, _ in model.named_parameters()] == [
        "0.weight", "0.bias", "2.weight", "2.bias"]
    assert model.parameters() == [first.weight, first.bias, second.bias]
    assert model.num_parameters() == 9 + 3 + 3
    bp.optim.SGD(model.parameters(), lr=0.1)  # refused duplicates before the fix


def test_sequential_names_its_layers_by_position_like_pytorch():
    model = mlp()
    assert [name for name, _ in model.named_parameters()] == [
        "0.weight", "0.bias", "2.weight", "2.bias", "3.weight", "3.bias"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias", "3.weight",
                                        "3.bias", "2.running_mean", "2.running_var"]


def test_sequential_indexing_len_iteration_slicing_and_append():
    model = mlp()
    layers = list(model)
    assert len(model) == 4 and model[0] is layers[0] and model[-1] is layers[3]
    head = model[:2]
    assert isinstance(head, Sequential) and list(head) == layers[:2]
    x = np.ones((3, 2))
    np.testing.assert_array_equal(head(x), layers[1](layers[0](x)))
    assert model.append(ReLU()) is model and len(model) == 5
    with pytest.raises(TypeError, match="Sequential.append needs a Module, got ufunc"):
        model.append(np.tanh)


@pytest.mark.parametrize("index", [5, -6])
def test_sequential_index_out_of_range_names_the_container_and_its_length(index):
    with pytest.raises(IndexError, match=rf"Sequential index {index} is out of range: it has "
                                         r"5 layers"):
        Sequential(*[ReLU() for _ in range(5)])[index]
    with pytest.raises(IndexError, match=r"it has 1 layer$"):
        Sequential(ReLU())[1]


def test_sequential_refuses_non_modules():
    with pytest.raises(TypeError, match="Sequential argument 1 must be a Module, got list"):
        Sequential(ReLU(), [ReLU()])


def test_sequential_refuses_the_same_layer_object_twice():
    # Each layer caches one forward pass, so a reused ReLU would get a silently wrong gradient.
    act = ReLU()
    with pytest.raises(ValueError, match=r"arguments 1 and 3 are the same layer object.*"
                                         r"create another ReLU"):
        Sequential(Linear(2, 2, rng=0), act, Linear(2, 2, rng=1), act)
    model = Sequential(act)
    with pytest.raises(ValueError, match="append got a layer already in it"):
        model.append(act)
    assert len(model) == 1


def test_sequential_forward_and_backward_chain_the_layers():
    model = mlp()
    x = np.random.default_rng(1).normal(size=(5, 2))
    out = model(x)
    h = x
    for layer in model.layers:
        h = layer.forward(h)
    np.testing.assert_allclose(out, h)
    g = np.ones_like(out)
    dx = model.backward(g)
    for layer in reversed(model.layers):
        g = layer.backward(g)
    np.testing.assert_allclose(dx, g)


def test_bare_module_has_no_forward_or_backward():
    with pytest.raises(NotImplementedError, match="Module does not implement forward"):
        Module()(np.ones(2))
    with pytest.raises(NotImplementedError, match="does not implement backward"):
        Module().backward(np.ones(2))


# -- state ---------------------------------------------------------------------------------
def test_zero_grad_clears_every_parameter_gradient():
    model = mlp()
    model.backward(np.ones_like(model(np.ones((4, 2)) + np.arange(4)[:, None])))
    assert any(p.grad.any() for p in model.parameters())
    model.zero_grad()
    assert not any(p.grad.any() for p in model.parameters())


def test_train_and_eval_switch_every_sub_module():
    model = Sequential(Linear(2, 2, rng=0), Dropout(0.5, rng=0), Sequential(BatchNorm1d(2)))
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.train(False)
    assert not model[2][0].training
    model.train(np.bool_(True))
    assert model[2][0].training


@pytest.mark.parametrize("mode", ["eval", "False", 0, None])
def test_train_refuses_a_mode_that_is_not_a_bool(mode):
    # bool("eval") is True: a non-bool mode used to switch to training mode silently.
    model = Sequential(Dropout(0.5, rng=0)).eval()
    with pytest.raises(ValueError, match=r"Sequential.train expects mode True or False"):
        model.train(mode)
    assert not model[0].training


def test_astype_converts_parameters_gradients_and_buffers():
    model = mlp()
    assert model.dtype == np.float64
    assert model.astype(np.float32) is model
    assert model.dtype == np.float32
    for p in model.parameters():
        assert p.data.dtype == p.grad.dtype == np.float32
    for _, b in model.named_buffers():
        assert b.dtype == np.float32
    assert Sequential(ReLU()).dtype is None
    with pytest.raises(TypeError, match="Sequential.astype needs a floating dtype, got int32"):
        model.astype(np.int32)


def test_state_dict_holds_copies_and_round_trips():
    model = mlp()
    model(np.random.default_rng(0).normal(size=(6, 2)))  # move the running statistics
    state = model.state_dict()
    state["0.weight"][...] = 0.0
    assert model[0].weight.data.any()
    state = model.state_dict()
    other = Sequential(Linear(2, 4, rng=5), ReLU(), BatchNorm1d(4), Linear(4, 3, rng=6))
    other.load_state_dict(state)
    for key, value in other.state_dict().items():
        np.testing.assert_array_equal(value, state[key], err_msg=key)
    x = np.ones((2, 2))
    np.testing.assert_array_equal(other.eval()(x), model.eval()(x))


def test_load_state_dict_keeps_the_model_dtype():
    model = mlp().astype(np.float32)
    model.load_state_dict(mlp().state_dict())
    assert all(v.dtype == np.float32 for v in model.state_dict().values())


def test_load_state_dict_reports_missing_and_unexpected_keys_and_changes_nothing():
    model = mlp()
    before = model.state_dict()
    state = model.state_dict()
    del state["3.bias"]
    state["9.weight"] = np.zeros(2)
    with pytest.raises(KeyError, match=r"missing \['3.bias'\]; unexpected \['9.weight'\]"):
        model.load_state_dict(state)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_load_state_dict_reports_shape_and_dtype_errors_before_writing_anything():
    model = mlp()
    before = model.state_dict()
    state = {key: value + 1 for key, value in before.items()}
    state["3.weight"] = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"cannot load '3.weight' into Sequential: the model "
                                         r"has shape \(3, 4\), the saved array has shape "
                                         r"\(4, 3\)"):
        model.load_state_dict(state)
    state["3.weight"] = np.full((3, 4), "x")
    with pytest.raises(TypeError, match="cannot load .3.weight.*not a real numeric dtype"):
        model.load_state_dict(state)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_load_state_dict_refuses_a_path_or_other_non_dict():
    model = mlp()
    with pytest.raises(TypeError, match=r"expected a dict of arrays.*got str \(to read a file "
                                        r"use bp.load\(model, path\)\)"):
        model.load_state_dict("model.npz")
    with pytest.raises(TypeError, match="expected a dict of arrays.*got NoneType"):
        model.load_state_dict(None)


def test_load_state_dict_refuses_complex_arrays_and_changes_nothing():
    # Copying complex values into a float array would drop the imaginary part (with a warning).
    model = mlp()
    before = model.state_dict()
    state = {key: value + 1 for key, value in before.items()}
    state["3.weight"] = state["3.weight"] + 1j
    with pytest.raises(TypeError, match="cannot load '3.weight'.*complex128 is not a real"):
        model.load_state_dict(state)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_load_state_dict_failing_cast_changes_nothing():
    # 1e300 overflows float32: with warnings as errors the cast fails, and must fail before
    # any entry has been written.
    model = mlp().astype(np.float32)
    before = model.state_dict()
    state = {key: value.astype(np.float64) + 1 for key, value in before.items()}
    state["3.bias"] = np.full(3, 1e300)
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        model.load_state_dict(state)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


# -- display -------------------------------------------------------------------------------
def test_repr_lists_layers_with_their_shapes_and_the_parameter_count():
    text = repr(mlp())
    assert text == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=4, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): BatchNorm1d(4, eps=1e-05, momentum=0.1)\n"
        "  (3): Linear(in_features=4, out_features=3, bias=True)\n"
        ")  # 35 parameters"
    )
    nested = repr(Sequential(Sequential(ReLU())))
    assert nested == "Sequential(\n  (0): Sequential(\n    (0): ReLU()\n  )\n)"


def test_module_names_are_exported():
    assert bp.Module is Module and bp.Parameter is Parameter and bp.Sequential is Sequential


def test_zero_grad_writes_zeros_into_the_gradient_array_itself():
    # grad is a plain array: a reference taken before zero_grad() sees the zeros too, and a
    # learner's layer adding into it after zero_grad() starts from zero
    p = Parameter(np.ones((2, 3)))
    g = p.grad
    p.grad += 5.0
    p.zero_grad()
    assert p.grad is g and np.array_equal(g, np.zeros((2, 3)))
    p.grad += 1.0
    assert np.array_equal(p.grad, np.ones((2, 3)))
    assert not hasattr(p, "add_matmul")


def test_linear_gradients_are_the_same_with_and_without_zero_grad_in_between():
    rng = np.random.default_rng(1)
    layer = Linear(4, 3, rng=rng)
    x, dy = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    layer(x)
    layer.backward(dy)
    layer.zero_grad()
    layer(x)
    layer.backward(dy)
    np.testing.assert_allclose(layer.weight.grad, dy.T @ x, rtol=1e-13)
    layer(x)
    layer.backward(dy)
    np.testing.assert_allclose(layer.weight.grad, 2 * dy.T @ x, rtol=1e-13)
    np.testing.assert_allclose(layer.bias.grad, 2 * dy.sum(axis=0), rtol=1e-13)


# -- preserved: one way to save and restore a model's modes and state --------------------------
def test_preserved_restores_modes_buffers_and_random_state_of_a_nested_model():
    from model_state import assert_unchanged, mixed_model, state_of

    from bpkit.module import preserved

    model = mixed_model()
    X = np.random.default_rng(5).standard_normal((8, 2))
    frozen = {name for name, m in model.named_modules() if not m.training}
    assert frozen == {"3.1", "4"}  # mixed modes: a BatchNorm1d and a Dropout frozen in eval
    before = state_of(model)
    with preserved(model) as saved:
        assert isinstance(saved, preserved)
        model.train()
        model(X)  # every BatchNorm1d updates its statistics in place, both Dropouts draw
        model[1].running_var = np.full(6, 7.0)  # a buffer replaced by another array
        model[3][2].rng = np.random.default_rng(99)  # a generator replaced by another
        assert all(m.training for m in model.modules())
        assert not np.array_equal(before["buffers"][0][1], before["buffers"][0][2])
        assert model[4].rng.bit_generator.state != before["rngs"][1][2]
    assert_unchanged(model, before)

    with pytest.raises(RuntimeError, match="inside"):
        with preserved(model):
            model.eval()
            model[3].train()
            model(X)
            raise RuntimeError("inside")
    assert_unchanged(model, before)
    # the next training forward is the one the model would have run without the blocks
    twin = mixed_model()
    np.testing.assert_array_equal(model(X), twin(X))


def test_preserved_keeps_parameters_only_when_asked_and_can_restore_again():
    from model_state import assert_unchanged, mixed_model, state_of

    from bpkit.module import preserved

    model = mixed_model()
    weight = model[0].weight.data
    with preserved(model):
        weight += 1.0  # a helper's training step: kept by default
    assert np.array_equal(weight, state_of(mixed_model())["params"][0][2] + 1.0)
    before = state_of(model)
    saved = preserved(model, parameters=True)
    weight -= 0.5
    model[0].weight.data = np.zeros_like(weight)  # the array itself replaced
    saved.restore()
    assert_unchanged(model, before)
    weight *= 3.0
    saved.restore()  # restore may be called again: the snapshot is not used up
    assert_unchanged(model, before)
    weight *= 2.0
    saved.save()  # a fresh snapshot, into the same copies
    kept = weight.copy()
    weight[...] = np.nan
    saved.restore()
    np.testing.assert_array_equal(model[0].weight.data, kept)
    assert model[0].weight.data is weight


def test_preserved_leaves_out_the_parts_switched_off():
    from model_state import mixed_model

    from bpkit.module import preserved

    model = mixed_model()
    X = np.random.default_rng(6).standard_normal((8, 2))
    mean = model[1].running_mean.copy()
    state = model[3][2].rng.bit_generator.state
    with preserved(model, buffers=False, modes=False):  # only the random generators
        model.train()
        model(X)
    assert all(m.training for m in model.modules())
    assert not np.array_equal(model[1].running_mean, mean)
    assert model[3][2].rng.bit_generator.state == state
    model = mixed_model()
    with preserved(model, random=False):
        model.train()
        model(X)
    assert not model[3][1].training and not model[4].training
    np.testing.assert_array_equal(model[1].running_mean, mean)
    assert model[3][2].rng.bit_generator.state != state


def test_preserved_needs_a_module():
    from bpkit.module import preserved

    with pytest.raises(TypeError, match="preserved expected a bpkit Module, got function"):
        preserved(lambda x: x)
    assert bp.preserved is preserved
