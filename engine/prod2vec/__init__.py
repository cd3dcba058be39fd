"""prod2vec: skip-gram with negative sampling over sessions.

``make_trainer(config).fit(corpus) -> ItemVectors``; the trainer keeps ``stats`` after fitting.
"""

from __future__ import annotations

from engine.prod2vec.config import Prod2VecConfig


def make_trainer(config: Prod2VecConfig, progress: bool = True):
    """The trainer for ``config.backend``; ``progress`` shows a progress bar while fitting."""
    if config.backend == "gensim":
        from engine.prod2vec.gensim_backend import GensimTrainer

        return GensimTrainer(config, progress=progress)
    from engine.prod2vec.trainer import Prod2VecTrainer

    return Prod2VecTrainer(config, progress=progress)


__all__ = ["Prod2VecConfig", "make_trainer"]
