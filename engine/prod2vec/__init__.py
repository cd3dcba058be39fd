"""prod2vec: skip-gram with negative sampling over sessions.

``make_trainer(config).fit(corpus) -> ItemVectors``; the trainer keeps ``stats`` after fitting.
"""

from __future__ import annotations

from engine.prod2vec.config import Prod2VecConfig


def make_trainer(config: Prod2VecConfig):
    """The trainer for ``config.backend``."""
    if config.backend == "gensim":
        from engine.prod2vec.gensim_backend import GensimTrainer

        return GensimTrainer(config)
    from engine.prod2vec.trainer import Prod2VecTrainer

    return Prod2VecTrainer(config)


__all__ = ["Prod2VecConfig", "make_trainer"]
