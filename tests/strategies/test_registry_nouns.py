"""Messages of every registry in the project name its entries in proper English: an unknown
name says "Known strategies", not "Known strategys". (Here because the strategy registry is
where the wrong plural was seen; it checks every registry found in the package.)"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import transferkit
from transferkit.errors import UserError
from transferkit.registry import Registry, plural

#: Every registry noun in the project and its plural, written out: a new registry fails
#: ``test_every_registry_of_the_package_is_listed`` until its plural is checked here.
NOUNS = {
    "strategy": "strategies",
    "backbone": "backbones",
    "backbone source": "backbone sources",
    "transferability score": "transferability scores",
    "deep adaptation method": "deep adaptation methods",
    "shallow adaptation method": "shallow adaptation methods",
    "selection rule": "selection rules",
    "pretraining method": "pretraining methods",
    "explanation method": "explanation methods",
    "dataset": "datasets",
    "report section": "report sections",
    "pretrain report block": "pretrain report blocks",
    "fit report block": "fit report blocks",
}


def _registries() -> list[Registry]:
    """Every Registry held at module level anywhere in the transferkit package."""
    found: dict[int, Registry] = {}
    for info in pkgutil.walk_packages(transferkit.__path__, "transferkit."):
        if info.name == "transferkit.__main__":  # runs the command line
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, Registry):
                found[id(value)] = value
    return sorted(found.values(), key=lambda r: r.kind)


REGISTRIES = _registries()


def test_every_registry_of_the_package_is_listed():
    assert {r.kind for r in REGISTRIES} == set(NOUNS)


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.kind)
def test_an_unknown_name_lists_the_known_ones_under_the_plural(registry):
    with pytest.raises(UserError) as e:
        registry.get("no-such-entry")
    message = str(e.value)
    assert f"Unknown {registry.kind} 'no-such-entry'" in message
    assert f"Known {NOUNS[registry.kind]}: " in message


@pytest.mark.parametrize(
    "noun, want",
    [*NOUNS.items(), ("key", "keys"), ("class", "classes"), ("patch", "patches"), ("y", "ys")],
)
def test_plural(noun, want):
    assert plural(noun) == want


def test_an_irregular_plural_can_be_given():
    r = Registry("criterion", plural_kind="criteria")
    with pytest.raises(UserError, match="Known criteria: none"):
        r.get("x")
