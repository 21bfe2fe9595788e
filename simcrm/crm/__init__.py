"""CRM operations (simcrm.crm): what a user does in the CRM, with validation, permissions, audit.

    >>> import datetime as dt
    >>> from simcrm.store import Store
    >>> from simcrm.crm import CRM
    >>> admin = CRM.system(Store(), now=dt.datetime(2025, 7, 1, 9, 0))
    >>> org = admin.setup_demo_org()
    >>> rep1, rep2 = admin.as_user("rep1"), admin.as_user("rep2")
    >>> cid = rep1.create_customer("远航物流有限公司", province="上海", city="上海市")
    >>> len(rep1.customers()), len(rep2.customers()), len(admin.as_user("mgr1").customers())
    (1, 0, 1)
    >>> rep2.update_customer(cid, address="浦东新区世纪大道 1 号")
    Traceback (most recent call last):
    ...
    simcrm.errors.PermissionDeniedError: 客户（customer_id）[customer]的值 1 无权操作：员工 刘芳（rep2，一般人员） 不能修改这个客户，它不在其数据范围（本人）内。允许：本人负责、共享给本人或在本人数据范围内的客户
    [en] permission denied 1 for field 'customer_id'; allowed: 本人负责、共享给本人或在本人数据范围内的客户

Every operation validates first and writes in one transaction with ``audit_log`` rows; on
any error every row of every table is as before. The methods are grouped by module file
(:mod:`.admin`, :mod:`.permissions`, :mod:`.numbering`, :mod:`.products`, :mod:`.customers`,
:mod:`.leads`, :mod:`.opportunities`, :mod:`.sales`, :mod:`.relationship`, :mod:`.service`,
:mod:`.campaigns`, :mod:`.privacy`, :mod:`.importing`, :mod:`.audit`, :mod:`.levels`) and mixed into one flat
class, :class:`CRM`. See ``docs/crm.md``.
"""

from __future__ import annotations

from .admin import AdminMixin
from .audit import AuditMixin
from .campaigns import CampaignsMixin
from .customers import CustomersMixin, normalise_name
from .importing import ImportingMixin
from .leads import Conversion, LeadsMixin
from .levels import LevelsMixin
from .numbering import NumberingMixin
from .opportunities import OpportunitiesMixin, opportunity_probability
from .permissions import PermissionsMixin, default_rights
from .privacy import MASKING, PrivacyMixin
from .products import ProductsMixin
from .relationship import RelationshipMixin
from .sales import SalesMixin
from .service import ServiceMixin

__all__ = ["CRM", "Conversion", "MASKING", "default_rights", "normalise_name", "opportunity_probability"]


class CRM(
    AdminMixin, PermissionsMixin, NumberingMixin, ProductsMixin, CustomersMixin, LeadsMixin,
    OpportunitiesMixin, SalesMixin, RelationshipMixin, ServiceMixin, CampaignsMixin, PrivacyMixin,
    ImportingMixin, AuditMixin, LevelsMixin,
):
    """The CRM as one user sees it.

    Args:
        store: the database (:class:`simcrm.store.Store`).
        user: the acting employee's id or login (must be 正常, not 离职).
        now: the clock: a callable returning a ``datetime`` (e.g. the simulation's clock) or a
            fixed ``datetime``/``date``; only when omitted is the real ``datetime.now`` used.

    Use :meth:`CRM.system` for set-up as the built-in administrator and :meth:`as_user` to act
    as someone else.
    """
