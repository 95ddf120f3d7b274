"""``fmlake news extract`` on JSON files (rules and a loopback Ollama server)."""

import json

import pytest
from click.testing import CliRunner

from assets.news.cli import cli
from tests.news.test_rules_geocode import shared_data
from tests.support.ollama_server import Behaviour


def write(tmp_path, items):
    path = tmp_path / "news.json"
    path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    return path


ITEMS = [{"id": "n1", "text": "Llegaron mujeres migrantes hondureñas al albergue.", "date": "2020-01-01"},
         {"id": "n2", "text": "El Instituto para las Mujeres en la Migración presentó un amparo.", "url": "x"}]


def test_extract_rules_json_lines(tmp_path):
    res = CliRunner().invoke(cli, ["extract", "--input", str(write(tmp_path, ITEMS)), "--json"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.output.splitlines()]
    assert [(x["id"], x["model"], x["answer"], x["raw"]) for x in lines] == [
        ("n1", "rules-es", 1, "1"), ("n2", "rules-es", 2, "2")]
    assert "in a name" in lines[1]["evidence"]


def test_extract_ollama_with_rules(tmp_path, ollama_server):
    ollama_server.add_model("a", Behaviour.think())
    ollama_server.add_model("b", Behaviour.custom(lambda p, n: "Sí"))
    res = CliRunner().invoke(cli, ["extract", "--input", str(write(tmp_path, ITEMS)), "--backend", "ollama",
                                   "--model", "a", "--model", "b", "--with-rules", "--host", ollama_server.url,
                                   "--json"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    got = {(x["id"], x["model"]): x for x in lines}
    assert len(lines) == 6
    assert got[("n1", "a")]["answer"] == 1 and got[("n1", "a")]["raw"].startswith("<think>")
    assert got[("n1", "b")]["answer"] is None and got[("n1", "b")]["raw"] == "Sí"
    assert got[("n2", "rules-es")]["answer"] == 2
    assert ollama_server.calls == {"a": 2, "b": 2}


def test_extract_errors_name_the_problem(tmp_path):
    bad = write(tmp_path, [{"id": "n1", "text": "ok"}, {"id": "n2"}])
    res = CliRunner().invoke(cli, ["extract", "--input", str(bad)])
    assert res.exit_code != 0 and "item 1 (id 'n2') has no 'text'" in res.output
    res = CliRunner().invoke(cli, ["extract", "--input", str(tmp_path / "nope.json")])
    assert res.exit_code != 0 and "no such file" in res.output
    res = CliRunner().invoke(cli, ["extract", "--input", str(write(tmp_path, ITEMS)), "--backend", "ollama"])
    assert res.exit_code != 0 and "--model" in res.output


@pytest.mark.realdata
def test_extract_real_file(tmp_path):
    path = shared_data() / "news" / "migration_news_2020.json"
    if not path.exists():
        pytest.skip(f"{path} not found (set FMLAKE_SHARED_DATA)")
    res = CliRunner().invoke(cli, ["extract", "--input", str(path), "--json"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.output.splitlines()]
    assert len(lines) == 115 and {x["answer"] for x in lines} <= {1, 2}
