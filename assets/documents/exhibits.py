"""Tables and charts of a document, built from its facts only (no Dagster).

Tables are lists of formatted cells (Mexican notation; ``C`` = confidential, ``n.d.`` = not
published by the source). Charts are PNG files drawn with matplotlib's Agg backend (imported
lazily: no display, no import cost unless a chart is drawn).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from assets.documents.factbook import FactBook
from assets.documents.facts import NATIONAL
from assets.documents.formatting import fmt_number

CONFIDENTIAL = "C"
NOT_AVAILABLE = "n.d."


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""

    def to_markdown(self) -> str:
        def esc(s: str) -> str:
            return s.replace("|", "\\|").replace("\n", " ")

        lines = [f"**{esc(self.title)}**", "", "| " + " | ".join(esc(c) for c in self.columns) + " |",
                 "|" + "|".join("---:" if i else "---" for i in range(len(self.columns))) + "|"]
        lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in self.rows]
        if self.note:
            lines += ["", f"_{esc(self.note)}_"]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"title": self.title, "columns": self.columns, "rows": self.rows, "note": self.note}


@dataclass
class Chart:
    name: str
    title: str
    alt: str
    path: str = ""
    data: dict = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return f"{self.name}.png"

    def as_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "alt": self.alt, "file": self.filename}


NOTE = ("C: dato confidencial (no se publica ni se estima). n.d.: la fuente no publica esta variable. "
        "Cifras monetarias en millones de pesos corrientes.")


def _cell(book: FactBook, metric: str, year: int, decimals: int, geo: str | None = None) -> str:
    f = book.get(metric, year, geo)
    if f is None:
        return NOT_AVAILABLE
    if f.value is None:
        return CONFIDENTIAL
    return fmt_number(f.value, decimals)


def document_tables(book: FactBook) -> list[Table]:
    """Main variables by census year; for a sub-national geography, a comparison with the nation."""
    years = book.all_years()
    cols = ["Año censal", "Personal ocupado", "Producción bruta total", "Valor agregado censal bruto",
            "Consumo intermedio (% de la producción)", "Valor agregado por persona ocupada (pesos)"]
    metrics = [("employment", 0), ("gross_output", 1), ("value_added", 1), ("intermediate_share", 1),
               ("productivity", 0)]
    if any(book.get("remuneration_per_worker", y) for y in years):
        cols.append("Remuneración por persona ocupada (pesos)")
        metrics.append(("remuneration_per_worker", 0))
    if not book.is_national:
        cols.append("Participación en el empleo nacional (%)")
        metrics.append(("share_national_employment", 1))
    rows = [[str(y)] + [_cell(book, m, y, d) for m, d in metrics] for y in years]
    tables = [Table(f"{book.sector_title}: principales variables, {book.geo_name}", cols, rows, NOTE)]
    if not book.is_national:
        y = book.latest_year()
        comp_metrics = [("Personal ocupado", "employment", 0), ("Producción bruta total", "gross_output", 1),
                        ("Valor agregado censal bruto", "value_added", 1),
                        ("Valor agregado por persona ocupada (pesos)", "productivity", 0),
                        ("Consumo intermedio (% de la producción)", "intermediate_share", 1)]
        geos = [(book.geo_name, book.geo_code)]
        if book.state_code:
            geos.append((book.state_name or book.state_code, book.state_code))
        geos.append(("Nacional", NATIONAL))
        rows = [[label] + [_cell(book, m, y, d, geo=g) for _, g in geos] for label, m, d in comp_metrics]
        tables.append(Table(f"Comparación con el total nacional del sector, {y}",
                            ["Variable"] + [name for name, _ in geos], rows, NOTE))
    return tables


def chart_specs(book: FactBook) -> list[Chart]:
    """What each chart shows (data from the facts); drawing is separate (:func:`draw_charts`)."""
    years = book.all_years()
    charts = []
    emp = {y: book.value("employment", y) for y in years}
    if any(v is not None for v in emp.values()):
        charts.append(Chart("empleo", "Personal ocupado por año censal",
                            f"Barras del personal ocupado en {book.geo_name}, años {years[0]} a {years[-1]}",
                            data={"years": years, "employment": [emp[y] for y in years]}))
    va = [book.value("value_added", y) for y in years]
    ci = [book.value("intermediate_consumption", y) for y in years]
    if any(v is not None for v in va):
        charts.append(Chart("produccion", "Producción bruta: valor agregado y consumo intermedio",
                            "Barras apiladas de valor agregado y consumo intermedio por año censal, en miles de "
                            "millones de pesos corrientes", data={"years": years, "value_added": va,
                                                                  "intermediate_consumption": ci}))
    if not book.is_national:
        se = [book.value("share_national_employment", y) for y in years]
        sv = [book.value("share_national_value_added", y) for y in years]
        if any(v is not None for v in se + sv):
            charts.append(Chart("participacion", "Participación en el total nacional del sector (%)",
                                "Líneas de la participación en el empleo y el valor agregado nacionales del "
                                "sector por año censal", data={"years": years, "employment": se, "value_added": sv}))
    return charts


def draw_charts(book: FactBook, out_dir: str | Path) -> list[Chart]:
    """Draw every chart of the document as PNG under ``out_dir``; returns them with their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mx = FuncFormatter(lambda v, _: fmt_number(v, 0))
    charts = chart_specs(book)
    for chart in charts:
        fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=100)
        years = chart.data["years"]
        labels = [str(y) for y in years]
        if chart.name == "empleo":
            values = chart.data["employment"]
            bars = ax.bar(labels, [v or 0 for v in values], color="#1f5f8b")
            for bar, v in zip(bars, values):
                if v is None:
                    ax.annotate(CONFIDENTIAL, (bar.get_x() + bar.get_width() / 2, 0), ha="center", va="bottom")
            ax.yaxis.set_major_formatter(mx)
            ax.set_ylabel("personas")
        elif chart.name == "produccion":
            va = [(v or 0) / 1e3 for v in chart.data["value_added"]]
            ci = [(v or 0) / 1e3 for v in chart.data["intermediate_consumption"]]
            ax.bar(labels, va, color="#1f5f8b", label="Valor agregado")
            ax.bar(labels, ci, bottom=va, color="#9ab7cf", label="Consumo intermedio")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_number(v, 1)))
            ax.set_ylabel("miles de millones de pesos")
            ax.legend(frameon=False, fontsize=8)
        else:
            for key, label, color in (("employment", "Empleo", "#1f5f8b"), ("value_added", "Valor agregado",
                                                                               "#c0504d")):
                pts = [(l, v) for l, v in zip(labels, chart.data[key]) if v is not None]
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=color, label=label)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_number(v, 1)))
            ax.set_ylabel("% del total nacional")
            ax.legend(frameon=False, fontsize=8)
        ax.set_title(chart.title, fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        path = out / chart.filename
        fig.savefig(path, format="png")
        plt.close(fig)
        chart.path = str(path)
    return charts
