"""Dovuti: the payments due to an Italian municipality (seed 002, job type import_dovuti).

Field names are Italian, as the municipalities' own files head their columns.
Unlike the seed-004 types, a dovuto needs its debtor, amount and due date even
when updated: a payment notice without them cannot be issued, and the files that
carry dovuti list each one whole. Values are normalised where the same dovuto can
be written several ways (letter case of codes, decimal commas, dd/mm/yyyy dates),
so that what is stored, and the business key, is one spelling. The checks follow
pagoPA's rules; docs/data-types.md lists them.
"""
from __future__ import annotations

import math
import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, StringConstraints, WithJsonSchema, with_config
from typing_extensions import NotRequired, TypedDict  # pydantic needs typing_extensions' TypedDict before Python 3.12

from ferry.datatypes.datatype import DataType
from ferry.store.port import Action

# --- codice fiscale or partita IVA ----------------------------------------------------------------

# Omocodia replaces digits by these letters (0 -> L ... 9 -> V) where two people would share a code.
_OMOCODIA = "LMNPQRSTUV"
_DIGIT = f"[0-9{_OMOCODIA}]"
_CODICE_FISCALE = re.compile(rf"[A-Z]{{6}}{_DIGIT}{{2}}[ABCDEHLMPRST]{_DIGIT}{{2}}[A-Z]{_DIGIT}{{3}}[A-Z]")
_PARTITA_IVA = re.compile(r"[0-9]{11}")
# The check character's weights of a character in an odd (1st, 3rd, ...) position; even positions weigh 0-25.
_ODD_WEIGHTS = dict(zip("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", (
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21,
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
)))


def _even_weight(character: str) -> int:
    return int(character) if character.isdigit() else ord(character) - ord("A")


def _codice_fiscale_check(first_15: str) -> str:
    """The check character (16th) of a codice fiscale whose first 15 characters are given."""
    total = sum(
        _ODD_WEIGHTS[character] if position % 2 == 0 else _even_weight(character)
        for position, character in enumerate(first_15)
    )
    return chr(ord("A") + total % 26)


def _partita_iva_check(first_10: str) -> str:
    """The check digit (11th) of a partita IVA whose first 10 digits are given (Luhn)."""
    total = 0
    for position, digit in enumerate(map(int, first_10)):
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return str(-total % 10)


def _debtor_code(value: str) -> str:
    code = value.upper()
    if len(code) == 16:
        if not _CODICE_FISCALE.fullmatch(code):
            raise ValueError(
                "a codice fiscale is 6 letters, 2 digits, a month letter, 2 digits, a letter, 3 digits and a letter"
            )
        if code[15] != (expected := _codice_fiscale_check(code[:15])):
            raise ValueError(f"codice fiscale check character should be {expected}, not {code[15]}")
        return code
    if len(code) == 11:
        if not _PARTITA_IVA.fullmatch(code):
            raise ValueError("a partita IVA is 11 digits")
        if code[10] != (expected := _partita_iva_check(code[:10])):
            raise ValueError(f"partita IVA check digit should be {expected}, not {code[10]}")
        return code
    raise ValueError(f"must be a codice fiscale (16 characters) or a partita IVA (11 digits); this has {len(code)}")


DebtorCode = Annotated[
    str,
    AfterValidator(_debtor_code),
    WithJsonSchema({"type": "string", "pattern": "^([A-Za-z0-9]{16}|[0-9]{11})$"}),
]

# --- importo --------------------------------------------------------------------------------------

MAX_IMPORTO = Decimal("999999999.99")  # pagoPA's largest amount
_CENT = Decimal("0.01")
# How amounts are written as text: the separators tell which form. Only a lone separator
# after 1-3 digits (not 0) and before exactly three is ambiguous: "1.234" may be 1234 or
# 1.234; the latter is no amount in cents, but guessing wrong would be a thousandfold error.
_UNGROUPED = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)?")
_AMBIGUOUS = re.compile(r"[+-]?[1-9][0-9]{0,2}[.,][0-9]{3}")
_GROUPED_DOTS = re.compile(r"[+-]?[0-9]{1,3}(?:\.[0-9]{3})+(?:,[0-9]+)?")  # 1.234,56  1.234.567
_GROUPED_COMMAS = re.compile(r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")  # 1,234.56  1,234,567


def _amount_of_text(text: str) -> Decimal:
    written = text.strip()
    if _AMBIGUOUS.fullmatch(written):
        thousands = written.replace(".", "").replace(",", "")
        raise ValueError(f"{written!r} is ambiguous (thousands or decimals?): write {thousands} if that is the amount")
    if _UNGROUPED.fullmatch(written):
        return Decimal(written.replace(",", "."))
    if _GROUPED_DOTS.fullmatch(written):
        return Decimal(written.replace(".", "").replace(",", "."))
    if _GROUPED_COMMAS.fullmatch(written):
        return Decimal(written.replace(",", ""))
    raise ValueError(f"{written!r} is not an amount; write it like 1234,56 or 1.234,56")


def _importo(value: Any) -> float:
    if isinstance(value, str):
        amount = _amount_of_text(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        amount = Decimal(str(value))
    else:
        raise ValueError("must be an amount in euro: a number, or text like 1.234,56")
    if amount <= 0:
        raise ValueError("must be more than 0 euro")
    if amount > MAX_IMPORTO:
        raise ValueError(f"must be at most {MAX_IMPORTO} euro")
    if amount != amount.quantize(_CENT):
        raise ValueError("must have at most 2 decimals (cents)")
    return float(amount)


Importo = Annotated[
    float,
    BeforeValidator(_importo),
    WithJsonSchema({
        "anyOf": [
            {"type": "number", "exclusiveMinimum": 0, "maximum": float(MAX_IMPORTO), "multipleOf": 0.01},
            {"type": "string", "description": "1234,56 or 1.234,56 (or 1234.56, 1,234.56)"},
        ]
    }),
]

# --- data_scadenza --------------------------------------------------------------------------------

_ITALIAN_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def _due_date(value: str) -> str:
    if found := _ITALIAN_DATE.fullmatch(value):
        day, month, year = found.groups()
    elif found := _ISO_DATE.fullmatch(value):
        year, month, day = found.groups()
    else:
        raise ValueError("must be a date as dd/mm/yyyy or yyyy-mm-dd")
    try:
        return date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        raise ValueError(f"{value!r} is not a day of the calendar") from None


DueDate = Annotated[
    str,
    AfterValidator(_due_date),
    WithJsonSchema({"type": "string", "description": "dd/mm/yyyy or yyyy-mm-dd; stored as yyyy-mm-dd"}),
]

# --- iuv ------------------------------------------------------------------------------------------

_NOTICE_NUMBER = re.compile(r"[0-9]{18}")
_IUV = re.compile(r"[A-Z0-9]{15,25}")


def _iuv(value: str) -> str:
    code = value.upper()
    if _NOTICE_NUMBER.fullmatch(code):
        # 18 digits is a numero avviso; its first digit (aux digit) says how the IUV inside it is made.
        if code[0] not in "013":
            raise ValueError(f"a numero avviso (18 digits) starts with 0, 1 or 3, not {code[0]}")
        return code
    if not _IUV.fullmatch(code):
        raise ValueError("must be an IUV (15 to 25 letters or digits) or a numero avviso (18 digits)")
    return code


Iuv = Annotated[str, AfterValidator(_iuv), WithJsonSchema({"type": "string", "pattern": "^[A-Za-z0-9]{15,25}$"})]

# --- the rest -------------------------------------------------------------------------------------


def _email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain.strip(".") or any(c.isspace() for c in value):
        raise ValueError("must be an email address like nome@esempio.it")
    return value


Email = Annotated[str, AfterValidator(_email), WithJsonSchema({"type": "string", "format": "email"})]
# pagoPA's limits on the debtor's name and address (anagraficaPagatore, indirizzoPagatore) and the causale.
Anagrafica = Annotated[str, StringConstraints(min_length=1, max_length=70)]
Indirizzo = Annotated[str, StringConstraints(min_length=1, max_length=70)]
Causale = Annotated[str, StringConstraints(min_length=1, max_length=140)]
CodiceServizio = Annotated[str, StringConstraints(min_length=1)]


@with_config(ConfigDict(extra="forbid"))
class Dovuti(TypedDict):
    """A payment due to the municipality, identified by its IUV or numero avviso."""

    iuv: Iuv
    codice_fiscale: DebtorCode  # the debtor's codice fiscale, or partita IVA for a company
    anagrafica: Anagrafica  # the debtor's name
    importo: Importo  # euro
    data_scadenza: DueDate
    causale: NotRequired[Causale]
    codice_servizio: NotRequired[CodiceServizio]  # the municipality's service the payment is for
    email: NotRequired[Email]
    indirizzo: NotRequired[Indirizzo]  # the debtor's postal address


DOVUTI = DataType(
    "Dovuti", Dovuti, ("iuv",), (Action.CREATE, Action.UPDATE, Action.CREATE_OR_UPDATE),
    description="Payments due to the municipality (seed 002), by IUV or numero avviso.",
)
