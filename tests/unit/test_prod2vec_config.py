import pytest

from engine.errors import ConfigError, EngineError
from engine.prod2vec import Prod2VecConfig, make_trainer


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dim": 0}, "dim must be >= 1"),
        ({"window": 0}, "window must be >= 1"),
        ({"epochs": 0}, "epochs must be >= 1"),
        ({"alpha": 0.0}, "alpha must be in (0, 1]"),
        ({"alpha": 1.5}, "alpha must be in (0, 1]"),
        ({"alpha": 0.01, "min_alpha": 0.02}, "min_alpha must be in [0, alpha]"),
        ({"negatives": -1}, "negatives must be >= 0"),
        ({"category_negatives": -2}, "category_negatives must be >= 0"),
        ({"negatives": 0, "category_negatives": 0}, "need at least one negative"),
        ({"sample": -0.1}, "sample must be >= 0"),
        ({"threads": -1}, "threads must be >= 0"),
        ({"backend": "torch"}, "unknown backend 'torch'"),
    ],
)
def test_invalid_settings_name_the_problem(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        Prod2VecConfig(**kwargs)


def test_config_errors_are_engine_and_value_errors():
    with pytest.raises(EngineError):
        Prod2VecConfig(dim=-3)
    with pytest.raises(ValueError):
        Prod2VecConfig(dim=-3)


def test_make_trainer_picks_the_backend():
    from engine.prod2vec.gensim_backend import GensimTrainer
    from engine.prod2vec.trainer import Prod2VecTrainer

    assert isinstance(make_trainer(Prod2VecConfig()), Prod2VecTrainer)
    assert isinstance(make_trainer(Prod2VecConfig(backend="gensim")), GensimTrainer)
    assert Prod2VecConfig(negatives=0, category_negatives=3).to_dict()["category_negatives"] == 3
