"""``fmlake`` core commands: a bad setting or catalog is one clear line, never a traceback."""

from click.testing import CliRunner

from pipelines.cli import main


def run(args, env=None):
    return CliRunner().invoke(main, args, env=env)


def test_a_bad_environment_variable_is_named_without_a_traceback(lakehouse_env):
    for env, fragment in [({"FMLAKE_ENV": "bogus"}, "FMLAKE_ENV must be one of"),
                          ({"LAKEHOUSE_STORAGE_OPTIONS": "{x"}, "LAKEHOUSE_STORAGE_OPTIONS is not valid JSON"),
                          ({"FMLAKE_LANDING_SETTLE_SECONDS": "soon"}, "FMLAKE_LANDING_SETTLE_SECONDS must be")]:
        for args in (["tables"], ["review", "list"]):
            result = run(args, env=env)
            assert result.exit_code == 1, (env, args, result.output)
            assert f"Error: environment: {fragment}" in result.output and "Traceback" not in result.output


def test_sql_on_a_file_that_is_not_a_catalog(tmp_path, lakehouse_env):
    bogus = tmp_path / "notes.duckdb"
    bogus.write_text("not a database")
    result = run(["sql", "--catalog", str(bogus), "SELECT 1"])
    assert result.exit_code == 1 and f"catalog {bogus} cannot be opened" in result.output
    result = run(["sql", "--catalog", str(tmp_path), "SELECT 1"])   # a folder
    assert result.exit_code == 1 and "cannot be opened" in result.output
