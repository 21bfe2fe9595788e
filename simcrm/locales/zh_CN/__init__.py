"""中国大陆 (zh_CN): validators, privacy masks and generators for Chinese CRM data.

Get it through :func:`simcrm.locales.get_locale` rather than importing it directly, so that
code works unchanged for another locale:

    >>> from simcrm.locales import get_locale
    >>> zh = get_locale("zh_CN")
    >>> zh.validate_id_number("11010519491231002X")
    '11010519491231002X'
    >>> zh.mask_id_number("11010519491231002X")
    '110105********002X'
    >>> number = "11010519491231002X"
    >>> zh.gender_from_id_number(number), zh.birthday_from_id_number(number)
    ('女', datetime.date(1949, 12, 31))
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> bool(zh.mobile_valid(zh.generate_mobile(rng, 1000)).all())
    True

Contents (all also at this package's top level):

* :mod:`.validators` — ``validate_mobile``, ``validate_landline``, ``validate_email``,
  ``validate_id_number``, ``validate_postcode``, ``validate_credit_code`` and their vectorised
  twins ``mobile_valid`` … ``credit_code_valid``; ``gender_from_id_number``,
  ``birthday_from_id_number`` (and ``*_series``);
* :mod:`.masks` — ``mask_mobile``, ``mask_id_number``, ``mask_email``, ``mask_address``,
  ``mask_name`` (and ``*_series``);
* :mod:`.generators` — ``generate_id_number``, ``generate_mobile``, ``generate_landline``,
  ``generate_credit_code``.

Provinces and cities come from ``simcrm/reference/data/regions.csv`` (see its README).
"""

from __future__ import annotations

from ._data import MOBILE_PREFIXES, PERMIT_PREFIXES, province_codes
from .generators import generate_credit_code, generate_id_number, generate_landline, generate_mobile
from .masks import (
    mask_address,
    mask_address_series,
    mask_email,
    mask_email_series,
    mask_id_number,
    mask_id_number_series,
    mask_mobile,
    mask_mobile_series,
    mask_name,
    mask_name_series,
)
from .validators import (
    ALLOWED,
    LABELS,
    birthday_from_id_number,
    birthday_from_id_number_series,
    credit_code_valid,
    email_valid,
    gender_from_id_number,
    gender_from_id_number_series,
    id_number_valid,
    landline_valid,
    mobile_valid,
    postcode_valid,
    validate_credit_code,
    validate_email,
    validate_id_number,
    validate_landline,
    validate_mobile,
    validate_postcode,
)

#: this locale's name in :data:`simcrm.locales.AVAILABLE_LOCALES`
name = "zh_CN"
#: the Faker locale used for names, companies and addresses
faker_locale = "zh_CN"

__all__ = [
    "name",
    "faker_locale",
    "LABELS",
    "ALLOWED",
    "MOBILE_PREFIXES",
    "PERMIT_PREFIXES",
    "province_codes",
    "validate_mobile",
    "validate_landline",
    "validate_email",
    "validate_id_number",
    "validate_postcode",
    "validate_credit_code",
    "mobile_valid",
    "landline_valid",
    "email_valid",
    "id_number_valid",
    "postcode_valid",
    "credit_code_valid",
    "mask_mobile",
    "mask_id_number",
    "mask_email",
    "mask_address",
    "mask_name",
    "mask_mobile_series",
    "mask_id_number_series",
    "mask_email_series",
    "mask_address_series",
    "mask_name_series",
    "gender_from_id_number",
    "birthday_from_id_number",
    "gender_from_id_number_series",
    "birthday_from_id_number_series",
    "generate_id_number",
    "generate_mobile",
    "generate_landline",
    "generate_credit_code",
]
