"""The library's public API: an explicit, sorted ``__all__``, every name of it there to use."""

from __future__ import annotations

import types

import pytest

import dealflow


def test_all_is_sorted_and_names_each_public_thing_once() -> None:
    assert dealflow.__all__ == sorted(set(dealflow.__all__))


@pytest.mark.parametrize("name", dealflow.__all__)
def test_every_public_name_resolves(name: str) -> None:
    found = getattr(dealflow, name)
    assert isinstance(found, (type, types.FunctionType, types.ModuleType)), name


def test_a_name_not_in_the_api_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'secret'"):
        dealflow.secret  # noqa: B018  (the lookup is what is tested)


def test_the_use_cases_are_reached_through_their_modules() -> None:
    assert dealflow.deals.create_deal is not None
    assert issubclass(dealflow.GateRefused, dealflow.DealflowError)
