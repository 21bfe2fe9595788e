"""simcrm — 客户关系管理实训模拟器: a simulated CRM, its analytics, and the course labs.

The public surface is small; the rest lives in submodules:

* :mod:`simcrm.store` — the schema and the database (:class:`~simcrm.store.Store`);
* :mod:`simcrm.crm` — the CRM's operations, with validation and permissions;
* :mod:`simcrm.sim` — the simulated firm and its customers (:func:`generate`);
* :mod:`simcrm.analytics` — the textbook's models (RFM, ABC, CLV, funnel, churn …);
* :mod:`simcrm.ui` — the ipywidgets screens; :mod:`simcrm.lab` — lab set-up and checks.
"""

__version__ = "0.1.0"  # before the imports: the world cache's keys read it while they run

from .errors import SimCRMError, debug  # noqa: E402
from .sim import World, generate  # noqa: E402
from .store import Store  # noqa: E402

__all__ = ["SimCRMError", "debug", "Store", "World", "generate", "__version__"]
