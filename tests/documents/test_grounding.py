"""The grounding rules: every number must round from a fact; anything else is flagged."""

from assets.documents.facts import Fact
from assets.documents.grounding import check


def fact(metric, value, unit, year=2023, base_year=None, geo="28", sector="31-33"):
    period = f"{base_year}-{year}" if base_year else str(year)
    return Fact(f"{sector}:{geo}:{period}:{metric}", sector, "Industrias manufactureras", geo, "Tamaulipas",
                "state", year, base_year, metric, value, unit, metric, "published" if value is not None
                else "confidential", "silver.industry_stats", "1")


FACTS = [
    fact("employment", 343428.0, "personas"),
    fact("employment", 211921.0, "personas", year=2003),
    fact("gross_output", 424321.277, "millones de pesos"),
    fact("value_added", 14031778.72, "millones de pesos", geo="00"),
    fact("productivity", 592594.14, "pesos por persona ocupada"),
    fact("share_national_employment", 4.776, "%"),
    fact("employment_growth", -3.25, "%", base_year=2018),
    fact("share_national_employment_change", -0.27, "puntos porcentuales", base_year=2003),
    fact("remuneration", None, "millones de pesos"),
]


def statuses(text, facts=FACTS):
    r = check(text, facts)
    return [(i.text, i.kind, i.status) for i in r.items], r


def test_levels_scales_percent_points_years_are_grounded():
    text = ("En 2023 el sector ocupó a 343,428 personas (211,921 en 2003), produjo 424.3 mil millones de pesos "
            "(424,321.3 millones) y el país 14.0 billones de pesos; 592,594 pesos por persona; el 4.8% del "
            "empleo nacional; bajó 0.3 puntos porcentuales; el empleo disminuyó 3.3% (o -3.3 por ciento).")
    items, report = statuses(text)
    assert report.flagged == 0, items
    assert report.numbers_found == 12
    kinds = {t: k for t, k, _ in items}
    assert kinds["4.8"] == "percent" and kinds["0.3"] == "points" and kinds["2023"] == "year"
    assert report.approvable


def test_invented_and_misrounded_numbers_are_flagged():
    text = ("El sector ocupó a 343,429 personas, el 4.9% del empleo, con 424 mil millones de pesos en 2015; "
            "creció 12.5%.")
    items, report = statuses(text)
    flagged = {t for t, _, s in items if s == "flagged"}
    # 343,429 is one person off; 4.9 does not round from 4.776; 2015 is not a census year; 12.5% is invented.
    assert flagged == {"343,429", "4.9", "2015", "12.5"}
    assert "424" not in flagged  # 424 mil millones: 424.3 rounds to 424 at zero decimals
    assert not report.approvable


def test_sign_matters_except_for_change_facts():
    # a level is never matched by its negative; a change may be stated as a magnitude with a verb
    _, r = statuses("ocupó a -343,428 personas")
    assert r.flagged == 1
    _, r = statuses("el empleo disminuyó 3.3%")
    assert r.flagged == 0


def test_percent_needs_a_percent_fact_and_units_are_not_mixed():
    # 4.8 without % is a plain quantity: no fact in personas/pesos is 4.8
    _, r = statuses("un valor de 4.8 unidades")
    assert r.flagged == 1
    # 343,428% is not a percentage fact
    _, r = statuses("un alza de 343,428%")
    assert r.flagged == 1


def test_confidential_facts_ground_nothing():
    _, r = statuses("las remuneraciones fueron 0 millones de pesos")
    assert r.flagged == 1


def test_identifiers_are_not_numbers_and_foreign_notation_is_flagged():
    items, r = statuses("## Sector 31-33\n\n1. El sector 31-33 (SCIAN 31-33), índice (2018=100).\n"
                        "2. Personal: 343.428,0 personas.")
    assert [t for t, _, _ in items] == ["343.428,0"]
    assert items[0][1] == "unrecognised" and r.flagged == 1


def test_prefer_the_documents_own_geography_on_ties():
    facts = FACTS + [fact("share_national_employment", 4.81, "%", geo="00")]
    r = check("el 4.8% del empleo", facts, prefer_geo="28")
    assert r.items[0].fact_id == "31-33:28:2023:share_national_employment"
    r = check("el 4.8% del empleo", facts, prefer_geo="00")
    assert r.items[0].fact_id == "31-33:00:2023:share_national_employment"


def test_report_round_trip():
    _, r = statuses("343,428 personas y 99 cosas")
    d = r.as_dict()
    assert d["numbers_found"] == 2 and d["grounded"] == 1 and d["flagged"] == 1 and d["approvable"] is False
    from assets.documents.grounding import GroundingReport

    assert GroundingReport.from_dict(d).flagged == 1


def test_money_and_head_counts_are_not_mixed():
    items, r = statuses("592,594 pesos por persona; 343,428 personas; 343,428 pesos; 592,594 trabajadores")
    assert [s for _, _, s in items] == ["grounded", "grounded", "flagged", "flagged"]


def test_numbers_hidden_by_markdown_code_lists_or_year_look_are_still_checked():
    # Markdown emphasis and words glued to a number do not hide it
    items, r = statuses("El sector ocupa a _999,999_ personas y x12.5% más; **343,428** personas.")
    assert [(t, s) for t, _, s in items] == [("999,999", "flagged"), ("12.5", "flagged"), ("343,428", "grounded")]
    # after "sector 31-33 y" only codes of the same length are codes: 99.9% and 4500 are quantities
    items, _ = statuses("El sector 31-33 y 99.9% de las empresas; el sector 31-33 y 4500 establecimientos.")
    assert [(t, s) for t, _, s in items] == [("99.9", "flagged"), ("4500", "flagged")]
    items, r = statuses("Los sectores 31, 32 y 33 y el subsector 336 e 337; SCIAN 31-33 y 46.")
    assert items == [] and r.approvable
    # a year-like integer followed by a head-count or establishment word is a quantity, not a census year
    items, _ = statuses("En 2023 trabajan 2003 personas en 2018 establecimientos.")
    assert [(t, k, s) for t, k, s in items] == [("2023", "year", "grounded"), ("2003", "quantity", "flagged"),
                                               ("2018", "quantity", "flagged")]
    # a decimal without its leading digit is not read as a different number
    items, _ = statuses("creció .5%")
    assert items == [(".5", "unrecognised", "flagged")]
