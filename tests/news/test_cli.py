"""``fmlake news extract`` on JSON files (rules and a loopback Ollama server)."""

import json
import time

import pytest
from click.testing import CliRunner

from pipelines.cli.news import cli
from tests.news.test_rules_geocode import shared_data
from pipelines.loopback.ollama_server import Behaviour, HttpError


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


def error_lines(res) -> list[str]:
    return [line for line in res.output.splitlines() if line.startswith("Error:")]


def test_extract_server_down_fails_fast_with_one_clear_line(tmp_path, closed_port_url):
    # the reported command, default retries (3) and timeout: before, ~7 s per question then rc 0
    t0 = time.perf_counter()
    res = CliRunner().invoke(cli, ["extract", "--input", str(write(tmp_path, ITEMS)), "--backend", "ollama",
                                   "--model", "gemma3:27b", "--with-rules", "--host", closed_port_url, "--json"])
    assert time.perf_counter() - t0 < 3.0
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit), res.output
    assert "Traceback" not in res.output and "asking" not in res.output
    assert not [line for line in res.output.splitlines() if line.startswith("{")]  # nothing asked, no rows
    (err,) = error_lines(res)
    assert f"no Ollama server answers at {closed_port_url}" in err and "Connection refused" in err
    assert "ollama serve" in err and "OLLAMA_HOST" in err and "rules-es" in err


def test_extract_model_not_on_server_names_it_and_the_available_ones(tmp_path, ollama_server):
    ollama_server.add_model("llama3:latest", Behaviour.clean())
    ollama_server.add_model("mistral:7b", Behaviour.clean())
    res = CliRunner().invoke(cli, ["extract", "--input", str(write(tmp_path, ITEMS)), "--backend", "ollama",
                                   "--model", "llama3", "--model", "gemma3:27b", "--host", ollama_server.url,
                                   "--json"])
    assert res.exit_code == 1, res.output
    (err,) = error_lines(res)
    assert "model 'gemma3:27b' is not on the Ollama server" in err and "it has: llama3:latest, mistral:7b" in err
    assert "ollama pull gemma3:27b" in err and "'llama3'" not in err  # llama3 is llama3:latest: it is there
    assert ollama_server.total_calls == 0  # nothing asked


def test_extract_exits_nonzero_when_every_answer_of_a_model_failed(tmp_path, ollama_server):
    ollama_server.add_model("ok", Behaviour.clean())
    ollama_server.add_model("broken", Behaviour.http_500())
    ollama_server.add_model("half", Behaviour.custom(
        lambda p, n: HttpError(400, "bad\nrequest") if "Instituto" in p else "1"))
    res = CliRunner().invoke(cli, ["extract", "--input", str(write(tmp_path, ITEMS)), "--backend", "ollama",
                                   "--model", "ok", "--model", "broken", "--model", "half", "--host",
                                   ollama_server.url, "--retries", "0", "--json"])
    assert res.exit_code == 1, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(rows) == 6  # every row is printed before the error
    assert {r["status"] for r in rows if r["model"] == "broken"} == {"failed"}
    (err,) = error_lines(res)
    assert err == "Error: all 2 answers of broken failed (first error: http 500: model runner has unexpectedly " \
                  "stopped (scripted))"
    # some failures only: a note, not an exit status
    assert "note: 1 of 2 answers of half failed (first error: http 400: bad request)" in res.stderr
    res = CliRunner().invoke(cli, ["extract", "--input", str(write(tmp_path, ITEMS)), "--backend", "ollama",
                                   "--model", "ok", "--model", "half", "--host", ollama_server.url])
    assert res.exit_code == 0, res.output
    assert "note: 1 of 2 answers of half failed" in res.stderr and not error_lines(res)


@pytest.mark.realdata
def test_extract_real_file(tmp_path):
    path = shared_data() / "news" / "migration_news_2020.json"
    if not path.exists():
        pytest.skip(f"{path} not found (set FMLAKE_SHARED_DATA)")
    res = CliRunner().invoke(cli, ["extract", "--input", str(path), "--json"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.output.splitlines()]
    assert len(lines) == 115 and {x["answer"] for x in lines} <= {1, 2}


def test_extract_with_a_server_trickling_bytes_stops_at_the_deadline(tmp_path, ollama_server):
    ollama_server.add_model("slowpoke", Behaviour.trickle(interval_s=0.05))
    path = tmp_path / "news.json"
    path.write_text(json.dumps([{"id": f"a{i}", "text": f"Una niña migrante {i}."} for i in range(3)]))
    t0 = time.perf_counter()
    # before: the per-read timeout never tripped, each call took the whole trickle (~12 s)
    result = CliRunner().invoke(cli, ["extract", "--input", str(path), "--backend", "ollama", "--model",
                                      "slowpoke", "--host", ollama_server.url, "--timeout", "1", "--json"],
                                env={"FMLAKE_LLM_MAX_CONCURRENCY": "4"})
    assert time.perf_counter() - t0 < 6
    assert result.exit_code == 1 and "all 3 answers of slowpoke failed" in result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 3 and all(r["status"] == "failed" and "deadline" in r["error"] for r in rows)
