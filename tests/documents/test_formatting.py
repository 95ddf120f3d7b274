"""Mexican number wording and Spanish plurals."""

import pytest

from assets.documents.formatting import (
    fmt_number,
    fmt_people,
    fmt_percent,
    fmt_pesos,
    fmt_pesos_millions,
    fmt_points,
    join_es,
    lower_first,
    plural,
)


@pytest.mark.parametrize("value,decimals,expected", [
    (343428, 0, "343,428"),
    (1234567.891, 1, "1,234,567.9"),
    (2.25, 1, "2.3"),          # half away from zero, not banker's rounding
    (-3.25, 1, "-3.3"),
    (-0.04, 1, "0.0"),         # never "-0.0"
    (999.95, 1, "1,000.0"),
    (0.5, 0, "1"),
])
def test_fmt_number(value, decimals, expected):
    assert fmt_number(value, decimals) == expected


def test_missing_value_is_refused():
    with pytest.raises(ValueError, match="confidential"):
        fmt_number(None)


def test_money_scales_and_plurals():
    assert fmt_pesos_millions(14031778.72) == "14.0 billones de pesos"
    assert fmt_pesos_millions(1000000) == "1.0 billones de pesos"  # "1.0" is not written as exactly one
    assert fmt_pesos_millions(424321.277) == "424.3 mil millones de pesos"
    assert fmt_pesos_millions(63.464) == "63.5 millones de pesos"
    assert fmt_pesos_millions(1) == "1.0 millones de pesos"
    assert fmt_pesos_millions(1, decimals=0) == "1 millón de pesos"


def test_people_pesos_points_and_percent():
    assert fmt_people(1) == "1 persona"
    assert fmt_people(0) == "0 personas"
    assert fmt_people(343428) == "343,428 personas"
    assert fmt_pesos(1) == "1 peso"
    assert fmt_pesos(592594.14) == "592,594 pesos"
    assert fmt_points(1.0) == "1.0 puntos porcentuales"
    assert fmt_points(1.0, decimals=0) == "1 punto porcentual"
    assert fmt_points(-1.0, decimals=0) == "-1 punto porcentual"
    assert fmt_people(1.4) == "1 persona"
    assert fmt_points(-0.27) == "-0.3 puntos porcentuales"
    assert fmt_percent(4.776) == "4.8%"


def test_plural_join_and_lowercase():
    assert plural(1, "año", "años") == "año"
    assert plural(1.5, "millón", "millones") == "millones"
    assert join_es(["2003", "2008", "2023"]) == "2003, 2008 y 2023"
    assert join_es(["comercio", "industria"]) == "comercio e industria"
    assert join_es(["agua", "hierro"]) == "agua y hierro"
    assert lower_first("Industrias manufactureras") == "industrias manufactureras"
    assert lower_first("SCIAN") == "SCIAN"
