"""The simulated world: Faker identities and a time-stepped behaviour model.

:func:`generate` builds the firm and runs the model from the founding date to "today";
:meth:`World.step` continues it. See ``docs/simulation.md``.
"""

from .model import SimParams
from .world import DEFAULT_SEED, World, generate, generate_frames

__all__ = ["generate", "generate_frames", "World", "SimParams", "DEFAULT_SEED"]
