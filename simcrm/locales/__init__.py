"""Locale-specific data and validators (区域设置): phone numbers, IDs, masks, generators.

Everything that depends on the country of the simulated firm lives here, keyed by a Faker
locale name, so that another country can be added as one more module without touching the
schema, the CRM or the simulation. Callers ask for a locale and use its functions:

    >>> from simcrm.locales import get_locale
    >>> zh = get_locale()                      # the default, "zh_CN"
    >>> zh.faker_locale
    'zh_CN'
    >>> zh.validate_mobile("138 1234 1234")
    '13812341234'
    >>> zh.mask_mobile("13812341234")
    '138****1234'
    >>> get_locale("en_US")
    Traceback (most recent call last):
    ...
    simcrm.errors.ConfigError: 区域设置（locale）的值 'en_US' 参数不正确：尚未提供该区域设置。允许：zh_CN
    [en] unknown locale 'en_US'; available: zh_CN

Adding a locale: write ``simcrm/locales/<name>/__init__.py`` defining every name in
:data:`LOCALE_API` (see ``zh_CN`` for the meaning of each), then add it to
:data:`AVAILABLE_LOCALES`. :func:`get_locale` refuses a module that misses a name, so a
half-finished locale fails at once rather than deep inside a simulation.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import ConfigError

__all__ = ["AVAILABLE_LOCALES", "LOCALE_API", "available_locales", "get_locale"]

#: locale name → module implementing it
AVAILABLE_LOCALES: dict[str, str] = {"zh_CN": "simcrm.locales.zh_CN"}

#: the names every locale module must define (the locale "interface")
LOCALE_API: tuple[str, ...] = (
    # identity
    "name",
    "faker_locale",
    "LABELS",
    # scalar validators: return the normalised value or raise ValidationError
    "validate_mobile",
    "validate_landline",
    "validate_email",
    "validate_id_number",
    "validate_postcode",
    "validate_credit_code",
    # vectorised validity masks over a pandas Series
    "mobile_valid",
    "landline_valid",
    "email_valid",
    "id_number_valid",
    "postcode_valid",
    "credit_code_valid",
    # privacy masks, scalar and Series
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
    # facts carried by an ID number
    "gender_from_id_number",
    "birthday_from_id_number",
    "gender_from_id_number_series",
    "birthday_from_id_number_series",
    # vectorised generators taking a numpy Generator
    "generate_id_number",
    "generate_mobile",
    "generate_landline",
    "generate_credit_code",
)


def available_locales() -> tuple[str, ...]:
    """Names of the locales that :func:`get_locale` accepts.

    >>> available_locales()
    ('zh_CN',)
    """
    return tuple(AVAILABLE_LOCALES)


def get_locale(name: str = "zh_CN") -> ModuleType:
    """The locale module called ``name`` (a Faker locale name such as ``"zh_CN"``).

    ``"zh-CN"`` and ``"zh_cn"`` are accepted too. The result is a module that defines every
    name in :data:`LOCALE_API`.

    Args:
        name: Faker locale name.

    Returns:
        The locale module.

    Raises:
        ConfigError: no such locale; the message lists the available ones.

    Example:
        >>> get_locale("zh-cn").name
        'zh_CN'
        >>> from simcrm.errors import ConfigError
        >>> try:
        ...     get_locale("fr_FR")
        ... except ConfigError as err:
        ...     print(err.field, err.value, err.allowed)
        locale fr_FR ('zh_CN',)
    """
    wanted = str(name).replace("-", "_").lower()
    for key, module_name in AVAILABLE_LOCALES.items():
        if key.lower() == wanted:
            module = importlib.import_module(module_name)
            missing = [attr for attr in LOCALE_API if not hasattr(module, attr)]
            if missing:
                raise ConfigError(
                    field="locale",
                    value=name,
                    label="区域设置",
                    reason=f"该区域设置不完整，缺少 {', '.join(missing)}",
                    message_en=f"locale {name!r} is incomplete: missing {', '.join(missing)}",
                )
            return module
    raise ConfigError(
        field="locale",
        value=name,
        label="区域设置",
        allowed=available_locales(),
        reason="尚未提供该区域设置",
        message_en=f"unknown locale {name!r}; available: {', '.join(AVAILABLE_LOCALES)}",
    )
