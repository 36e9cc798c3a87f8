"""Every head the reference has for the encoder families, and the Auto classes that pick a class another
Auto class already picks (``Family.also_auto``: AutoModelForTextEncoding -> the base model,
AutoModelForPreTraining -> the masked LM). The heads themselves run in the shared suite (test_models.py);
the encoders' causal LMs there as the ``<family>-as-decoder`` cases (tests/model_registry.py)."""

from __future__ import annotations

import pytest
import transformers

import workbench
from workbench.errors import UnsupportedModelError
from workbench.models.registry import FAMILIES

ENCODERS = ("bert", "roberta", "xlm-roberta", "camembert", "distilbert", "albert", "electra", "mpnet", "roformer",
            "deberta", "deberta-v2", "modernbert", "mobilebert")


def reference_picks(model_type: str) -> dict[str, str]:
    """Auto class name -> the class the reference's Auto class builds for ``model_type``."""
    picks = {}
    for name in (name for name in dir(transformers) if name.startswith("AutoModel")):
        names = getattr(getattr(getattr(transformers, name), "_model_mapping", None), "_model_mapping", None)
        if isinstance(names, dict) and model_type in names:
            picks[name] = names[model_type]
    return picks


@pytest.mark.parametrize("model_type", ENCODERS)
def test_every_reference_head_is_registered(model_type):
    family = FAMILIES[model_type]
    assert {**family.heads, **family.also_auto} == reference_picks(model_type)


def test_also_auto_names_a_class_of_the_heads():
    for model_type, family in FAMILIES.items():
        assert set(family.also_auto.values()) <= set(family.heads.values()), model_type
        assert not set(family.also_auto) & set(family.heads), f"{model_type}: an Auto class in heads and also_auto"


ALIASES = [(model_type, auto) for model_type in ENCODERS for auto in FAMILIES[model_type].also_auto]


@pytest.mark.parametrize("model_type,auto", ALIASES, ids=[f"{t}-{a}" for t, a in ALIASES])
def test_the_alias_picks_the_reference_class_both_ways(model_type, auto, tmp_path):
    expected = reference_picks(model_type)[auto]
    config = workbench.AutoConfig.for_model(model_type, **FAMILIES[model_type].tiny)
    model = getattr(workbench, auto).from_config(config)
    assert type(model).__name__ == expected
    model.save_pretrained(tmp_path)
    assert type(getattr(workbench, auto).from_pretrained(tmp_path)).__name__ == expected
    assert type(getattr(transformers, auto).from_pretrained(tmp_path)).__name__ == expected


def test_an_auto_class_without_the_family_names_the_usable_ones():
    config = workbench.AutoConfig.for_model("mpnet", **FAMILIES["mpnet"].tiny)
    with pytest.raises(UnsupportedModelError, match="AutoModelForPreTraining"):
        workbench.AutoModelForTextEncoding.from_config(config)
