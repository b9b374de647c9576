"""The checks exercise widgets run on what a learner's function returned."""

from __future__ import annotations

import numpy as np
import pytest

from bpkit.widgets._answers import (
    ERROR_COLOUR,
    error_html,
    returned_array,
    returned_number,
    short_error,
    what,
)


def test_returned_array_gives_a_float_array_of_the_expected_shape():
    out = returned_array([1, 2], "forward", "one array", (2,))
    assert out.dtype == np.float64 and out.tolist() == [1.0, 2.0]


@pytest.mark.parametrize(("value", "message"), [
    (None, "forward returned None (is `return` missing?); expected one array"),
    ((np.ones(2), None), "forward returned a tuple; expected one array"),
])
def test_returned_array_names_none_and_tuples(value, message):
    with pytest.raises(TypeError) as info:
        returned_array(value, "forward", "one array")
    assert str(info.value) == message
    with pytest.raises(TypeError) as info:
        returned_array(value, "forward")  # without `expected`, the sentence just ends
    assert str(info.value) == message.split(";")[0]


def test_returned_array_names_both_shapes_and_what_was_given():
    with pytest.raises(ValueError, match=r"^f returned shape \(3,\) for x of shape \(2,\); "
                                         r"expected \(2,\)$"):
        returned_array(np.zeros(3), "f", shape=(2,), given="x")


@pytest.mark.parametrize(("value", "message"), [
    (None, "loss returned None (is `return` missing?); expected one float"),
    ([0.5], "loss returned a list; expected one float"),
    (np.zeros(3), "loss returned an array of shape (3,); expected one float"),
])
def test_returned_number_names_what_came_instead(value, message):
    with pytest.raises(TypeError) as info:
        returned_number(value, "loss", "one float")
    assert str(info.value) == message


def test_returned_number_accepts_python_and_numpy_scalars():
    assert returned_number(np.float32(0.5), "loss", "one float") == 0.5
    assert returned_number(np.array(2.0), "loss", "one float") == 2.0


def test_what_and_short_error_are_one_line_each():
    assert what(None) == "None (is `return` missing?)" and what((1,)) == "a tuple"
    assert short_error(ValueError("bad x")) == "ValueError: bad x"
    assert short_error(KeyError()) == "KeyError"


def test_error_html_shows_the_learners_error_in_red_and_escaped():
    out = error_html("Your <layer>", short_error(ValueError("x < 0")), "; stopped & kept.")
    assert out == (f"<span style='color:{ERROR_COLOUR}'>Your &lt;layer&gt;: "
                   "<code>ValueError: x &lt; 0</code>; stopped &amp; kept.</span>")
    assert error_html("Your code", "KeyError").endswith(": <code>KeyError</code></span>")
