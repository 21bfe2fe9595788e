"""Lab support: the student's identity and world, and checks that explain mistakes in Chinese."""

from .checks import CheckResult, compare
from .firstrun import forget_student
from .identity import DEFAULT_SEED, Student, resolve_student, world_seed
from .session import Lab, set_student, start

__all__ = ["Lab", "start", "set_student", "forget_student", "CheckResult", "compare", "Student", "resolve_student", "world_seed", "DEFAULT_SEED"]
