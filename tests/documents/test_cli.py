"""`fmlake docs` and `fmlake review` commands (click runner, in-process)."""

import json
import threading
import urllib.request

import pytest
from click.testing import CliRunner

from pipelines.cli import main
from pipelines.loopback.ollama_server import Behaviour


@pytest.mark.realdata
def test_docs_draft_from_the_real_census(real_census_path, tmp_path, lakehouse_env):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["docs", "draft", "--census", str(real_census_path), "--sector", "31-33",
                                       "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["geo_name"] == "Tamaulipas" and report["flagged"] == 0 and report["approvable"] is True
    assert report["numbers_found"] == report["grounded"] > 20
    assert {"draft.md", "draft.html", "facts.json", "charts/empleo.png"} <= set(report["files"])
    facts = json.loads((out / "facts.json").read_text())
    assert {"id", "value", "unit", "label"} <= set(facts[0])
    emp = next(f for f in facts if f["id"] == "31-33:28:2023:employment")
    assert emp["value"] == 343428 and emp["unit"] == "personas"
    assert "343,428 personas" in (out / "draft.md").read_text()


@pytest.mark.realdata
def test_docs_draft_municipality_and_errors(real_census_path, tmp_path, lakehouse_env):
    runner = CliRunner()
    r = runner.invoke(main, ["docs", "draft", "--census", str(real_census_path), "--sector", "32",
                             "--geo", "reynosa", "--out", str(tmp_path / "r")])
    assert r.exit_code == 0 and "la manufactura en Reynosa" in r.output and "0 flagged" in r.output
    r = runner.invoke(main, ["docs", "draft", "--census", str(real_census_path), "--sector", "99",
                             "--out", str(tmp_path / "x")])
    assert r.exit_code == 1 and "sector '99' is not in the data" in r.output


def test_docs_draft_with_the_llm_flags_and_exits_3(sample_landing, tmp_path, ollama_server, monkeypatch):

    ollama_server.add_model("mixtral:8x7b", Behaviour.clean(lambda p: "## Panorama\n\nCreció 41.3%."))
    monkeypatch.setenv("OLLAMA_HOST", ollama_server.url)
    census = sample_landing / "industry_stats" / "saic_muestra.csv"
    r = CliRunner().invoke(main, ["docs", "draft", "--census", str(census), "--sector", "46", "--backend", "llm",
                                  "--out", str(tmp_path / "o"), "--json"])
    assert r.exit_code == 3, r.output
    report = json.loads(r.output)
    assert report["flagged"] == 1 and report["flagged_numbers"][0]["text"] == "41.3"
    assert report["backend"] == "llm" and report["model"] == "mixtral:8x7b"


def test_docs_draft_bad_census_file_names_it(tmp_path, lakehouse_env):
    bad = tmp_path / "bad.csv"
    bad.write_text("Año Censal,Entidad\n2023,28 Tamaulipas\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["docs", "draft", "--census", str(bad), "--sector", "46", "--out",
                                  str(tmp_path / "o")])
    assert r.exit_code == 1 and "bad.csv" in r.output and "not a SAIC export" in r.output


def test_publish_serve_and_review_list(lakehouse_env, sample_stats, tmp_path):
    from assets.documents import review
    from assets.documents.webserve import site_server
    from lakehouse import Lakehouse
    from tests.documents.conftest import populate

    lh = Lakehouse(lakehouse_env.lakehouse_root)
    populate(lh, sample_stats, [("23", "28")])
    review.record_review(lh, "conociendo_la_industria-23-28", 1, "approved", "Ana")
    runner = CliRunner()
    r = runner.invoke(main, ["review", "list", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)[0]["status"] == "approved"
    r = runner.invoke(main, ["docs", "publish"])
    assert r.exit_code == 0 and json.loads(r.output)["documents"] == ["conociendo_la_industria-23-28"]
    server = site_server(lh.local_dir("site"), port=0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        index = urllib.request.urlopen(base + "/", timeout=10).read().decode()
        assert 'href="conociendo_la_industria-23-28/"' in index
        page = urllib.request.urlopen(base + "/conociendo_la_industria-23-28/", timeout=10).read().decode()
        assert "Documento aprobado por Ana" in page
        with pytest.raises(urllib.error.HTTPError) as exc:  # no directory listings
            urllib.request.urlopen(base + "/conociendo_la_industria-23-28/charts/", timeout=10)
        assert exc.value.code == 404
    finally:
        server.shutdown()
        server.server_close()


def test_docs_draft_from_the_lakehouse_silver_table(lakehouse_env, sample_stats, tmp_path):
    from lakehouse import Lakehouse
    from lakehouse.tables import ingestion as ING

    runner = CliRunner()
    r = runner.invoke(main, ["docs", "draft", "--sector", "46", "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "silver.industry_stats is empty" in r.output
    Lakehouse(lakehouse_env.lakehouse_root).write(ING.silver_industry, sample_stats)
    r = runner.invoke(main, ["docs", "draft", "--sector", "46", "--geo", "Matamoros", "--out", str(tmp_path / "o"),
                             "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["geo_code"] == "28022"
