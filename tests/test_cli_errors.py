"""Every command, given wrong arguments, ends in one clear sentence and exit code 2 (1 where a check ran and
failed), never in a Python traceback."""

from __future__ import annotations

import importlib.util

import pytest

WRONG: list = [
    # (arguments, exit code, what the message must say)
    (["run", "--no-such-flag"], 2, "No such option: --no-such-flag"),
    (["run", "--seeds", "abc"], 2, "--seeds 'abc'"),
    (["run", "--seeds", "0"], 2, "at least 1"),
    (["run", "--workers", "abc"], 2, "Invalid value for '--workers'"),
    (["run", "--workers", "0", "--tasks", "sbm-node"], 2, "--workers 0"),
    (["run", "--threads", "0", "--tasks", "sbm-node"], 2, "--threads 0"),
    (["run", "--device", "tpu", "--tasks", "sbm-node"], 2, "--device 'tpu'"),
    (["run", "--deterministic", "maybe", "--tasks", "sbm-node"], 2, "--deterministic 'maybe'"),
    (["run", "--executor", "dask", "--tasks", "sbm-node"], 2, "--executor 'dask'"),
    (["run", "--tasks", "sbm-node", "--address", "x"], 2, "--address, --partition and --time"),
    (["run", "--tasks", "cora", "--suite", "default"], 2, "either --suite or --tasks"),
    (["run", "--tasks", "nope"], 2, "unknown task 'nope'"),
    (["run", "--tasks", "/nonexistent/task.yaml"], 2, "cannot be read"),
    (["run", "--suite", "nope"], 2, "unknown suite 'nope'"),
    (["run", "--tasks", "sbm-node", "--models", "gcnn"], 2, "did you mean 'gcn'?"),
    (["run", "--tasks", "sbm-node", "--set", "hidden"], 2, "expected KEY=VALUE"),
    (["run", "--tasks", "sbm-node", "--set", "=3"], 2, "key before '=' is empty"),
    (["run", "--tasks", "sbm-node", "--set", "optimm.lr=0.1"], 2, "group 'optimm'"),
    (["run", "--tasks", "sbm-node", "--models", "gcn", "--set", "hidden=6.4"], 2, "takes an integer for 'hidden'"),
    (["run", "--tasks", "sbm-node", "--models", "gcn", "--set", "residual=maybe"], 2, "true or false"),
    (["run", "--tasks", "sbm-node", "--models", "gcn", "--set", "dropout=1e-3"], 2, "with a decimal point"),
    (["run", "--tasks", "sbm-link", "--models", "ncn", "--set", "architecture=authours-code"], 2,
     "did you mean 'authors-code'?"),
    (["run", "--tasks", "sbm-link", "--models", "gcn", "--set", "train.lr_schedule={name: plateau, gamma: 0.5, "
      "patience: 2}"], 2, "which link tasks do not report"),
    (["run", "--tasks", "sbm-node", "--models", "gcn", "--set", "train.lr_schedule={name: plateau, gamma: 0.5}"], 2,
     "'plateau' takes gamma, patience"),
    (["run", "--tasks", "structure-topology-cpu", "--models", "gcn-spe", "--set", "pe_args={pool: maen}"], 2,
     "(--set): pe_args.pool must be sum or mean, got 'maen'."),
    (["run", "--tasks", "structure-topology-cpu", "--models", "gcn-spe", "--set", "pe_args={psi_hiden: 8}"], 2,
     "pe_args: psi_hiden not known for pe: spe (did you mean psi_hidden?)"),
    (["run", "--tasks", "sbm-node", "--model", "nocolon"], 2, "--model 'nocolon'"),
    (["run", "--tasks", "sbm-node", "--model", "/nonexistent/model.py:build"], 2, "does not exist"),
    (["run", "--tasks", "sbm-node", "--models", "mlp", "--out", "/proc/gbench-results"], 2,
     "--out /proc/gbench-results: cannot create"),
    pytest.param(["run", "--tasks", "sbm-node", "--models", "mlp", "--executor", "ray", "--address", "nonsense"], 2,
                 "--address nonsense", marks=pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                                                reason="Ray is not installed")),
    (["tune"], 2, "Missing option '--tasks'"),
    (["tune", "--tasks", "sbm-node", "--models", "gcn", "--sampler", "bayes"], 2, "--sampler 'bayes'"),
    (["tune", "--tasks", "sbm-node", "--models", "gcn", "--budget", "0"], 2, "--budget 0"),
    (["tune", "--tasks", "sbm-node", "--models", "gcnn"], 2, "did you mean 'gcn'?"),
    (["tune", "--tasks", "sbm-node", "--models", "gcn", "--param-budget", "lots"], 2, "parameter budget 'lots'"),
    (["tune", "--tasks", "sbm-node", "--models", "logreg"], 2, "has no search space"),
    (["tune", "--tasks", "sbm-node", "--models", "gcn", "--sampler", "grid"], 2, "which a grid cannot enumerate"),
    (["list"], 2, "Missing argument"),
    (["list", "things"], 2, "choose tasks, models or suites"),
    (["show", "nope"], 2, "unknown task 'nope'"),
    (["show", "/nonexistent/task.yaml"], 2, "cannot be read"),
    (["check-model"], 2, "Missing argument"),
    (["check-model", "gbench.models.node:gcn", "--level", "nodes"], 2, "--level 'nodes'"),
    (["check-model", "/nonexistent/model.py:build"], 1, "does not exist"),
    (["compare", "/nonexistent/a", "/nonexistent/b"], 2, "does not exist"),
    (["compare", "/nonexistent/a"], 2, "give a CANDIDATE"),
    (["compare", "a", "b", "--format", "xml"], 2, "--format 'xml'"),
    (["compare", "a", "b", "--alpha", "2"], 2, "--alpha 2"),
    (["compare", "a", "b", "--correction", "bonferroni"], 2, "--correction 'bonferroni'"),
    (["compare", "a", "b", "--min-seeds", "x"], 2, "Invalid value for '--min-seeds'"),
    (["publish", "/nonexistent/results"], 2, "Missing option '--name'"),
    (["publish", "/nonexistent/results", "--name", "x"], 2, "no records/ folder"),
    (["plot", "/nonexistent/results"], 2, "give a results directory"),
    (["plot", "/nonexistent/results", "--kind", "pie"], 2, "--kind 'pie'"),
    (["verify", "sbm-node"], 2, "Missing argument"),
    (["verify", "sbm-node", "gcn", "--runs", "1"], 2, "--runs 1"),
    (["verify", "sbm-node", "gcn", "--seed", "abc"], 2, "Invalid value for '--seed'"),
    (["verify", "sbm-node", "gcn", "--set", "hiddn=3"], 2, "did you mean 'hidden'?"),
    (["results", "verify", "/nonexistent/results"], 2, "no records/ folder"),
    (["results", "seeds", "/nonexistent/results"], 2, "no records/ folder"),
    (["results", "running", "/nonexistent/results"], 2, "no such folder"),
    (["results", "bogus"], 2, "No such command 'bogus'"),
    (["bogus"], 2, "No such command 'bogus'"),
]


def _commands() -> list[str]:
    """Every command and subcommand `gbench --help` lists, as 'run' or 'results verify'."""
    import typer

    from gbench.cli import app

    def walk(group, prefix: str) -> list[str]:
        names = []
        for name, command in sorted(group.commands.items()):
            if hasattr(command, "commands"):
                names += walk(command, f"{prefix}{name} ")
            else:
                names.append(prefix + name)
        return names

    return walk(typer.main.get_command(app), "")


def _one_clear_error(result, code: int, says: str) -> None:
    text = result.out + result.err
    assert result.code == code, result
    assert "Traceback" not in text, result
    assert says in " ".join(text.split()), result


def _args(case) -> list[str]:
    return case.values[0] if hasattr(case, "values") else case[0]


@pytest.mark.parametrize("args,code,says", WRONG, ids=[" ".join(_args(c)) for c in WRONG])
def test_wrong_arguments_give_one_sentence_and_no_traceback(cli, args, code, says, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths such as 'a' and 'b' name nothing; results go here
    _one_clear_error(cli(*args), code, says)


def test_every_command_refuses_an_unknown_option_without_a_traceback(cli):
    commands = _commands()
    assert {"run", "tune", "list", "show", "check-model", "compare", "publish", "plot", "verify",
            "results verify"} <= set(commands)
    for command in commands:
        _one_clear_error(cli(*command.split(), "--no-such-flag"), 2, "No such option: --no-such-flag")


def test_every_command_has_a_wrong_value_case_above():
    covered = {" ".join(a[:2]) if a[0] == "results" else a[0] for a in map(_args, WRONG)}
    missing = [c for c in _commands() if c not in covered and c != "schema"]  # schema: its own tests
    assert not missing, f"add a wrong-argument case for: {missing}"


def test_help_reflows_each_docstring_to_the_terminal():
    # A docstring's own line breaks must not reach an 80-column terminal: each command's summary in the
    # "Commands" panels (gbench --help, gbench results --help) and each description fills its lines (typer's
    # default "rich" mode kept the docstring's breaks in the panels, leaving lines half empty).
    from typer.testing import CliRunner

    from gbench.cli import app

    def filled(lines: list[str], width: int, where: str) -> None:
        for line, following in zip(lines, lines[1:]):
            if line.strip() and following.strip():  # within a paragraph: the next word would not have fitted
                assert width - len(line.rstrip()) <= len(following.split()[0]) + 1, (where, line)

    for group in ([], ["results"]):
        text = CliRunner().invoke(app, [*group, "--help"], env={"COLUMNS": "80"}).output
        panel = text.split("Commands")[1].split("╰")[0].splitlines()[1:]
        right = max(line.rindex("│") for line in panel)
        start = min(right - len(line[1:right].lstrip()) for line in panel if line[2] == " " and line[1:right].strip())
        descriptions = [line[start:right] for line in panel]
        rows: list[list[str]] = []
        for line, cell in zip(panel, descriptions):
            if line[2] != " ":
                rows.append([])
            rows[-1].append(cell)
        assert len(rows) >= 3, text
        for cells in rows:
            filled(cells, right - start - 1, " ".join(["gbench", *group, "--help"]))
    for command in _commands():
        text = CliRunner().invoke(app, [*command.split(), "--help"], env={"COLUMNS": "80"}).output
        about = text.split("Usage:")[1].split("╭")[0].splitlines()[1:]  # the description, under the usage line
        assert any(line.strip() for line in about), command
        filled(about, 80, command)


def test_no_help_text_holds_what_markdown_would_eat():
    # Help is rendered as Markdown (rich_markup_mode="markdown"): two '*', or two '_' at words' edges, in a
    # docstring or an option's help become emphasis and vanish from the terminal ('*.yaml or *.yml'); inside a
    # word ('pe_args') CommonMark leaves '_' alone. Outside backticks, none is allowed, so none can pair.
    import re

    import click
    from typer.main import get_command

    from gbench.cli import app

    def walk(command: click.Command, path: str):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {name}")

    eaten = re.compile(r"\*|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
    for path, command in walk(get_command(app), "gbench"):
        for text in [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]:
            outside_code = re.sub(r"`[^`]*`", "", text)
            assert not eaten.search(outside_code), (path, text)


def test_list_names_every_task_model_and_suite_whole_in_80_columns(monkeypatch):
    # `gbench list` is a new user's first look at the catalog: at 80 columns every id is whole on its own line
    # (the old table cut them to 'citeseer-link-70-10-20…' and squeezed the metric column to nothing).
    from rich.console import Console
    from typer.testing import CliRunner

    from gbench import cli as cli_module, specs
    from gbench.cli import app

    # gbench.cli makes its console at import, and rich fixes its width when COLUMNS is set then (as another test
    # module's fixture may have had it): a fresh one reads COLUMNS when it prints, as in a new process.
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(cli_module, "console", Console())

    def listed(what: str) -> list[str]:
        result = CliRunner().invoke(app, ["list", what], env={"COLUMNS": "80"})
        assert result.exit_code == 0 and max(map(len, result.output.splitlines())) <= 80, result.output
        return result.output.splitlines()

    lines = listed("tasks")
    end = next(i for i, line in enumerate(lines) if line.startswith("not shown at this width: dataset"))
    assert lines[0].split()[:3] == ["id", "level", "metric"]
    assert [line.split()[0] for line in lines[2:end]] == specs.task_ids()
    cora = next(line.split() for line in lines if line.startswith("cora "))
    assert cora[1:4] == ["node", "acc", "1"]
    lines = listed("models")
    end = next((i for i, line in enumerate(lines) if line.startswith("not shown")), len(lines))
    assert sorted(line.split()[0] for line in lines[2:end]) == sorted(name for _, name, _ in specs.model_entries())
    text = " ".join(" ".join(listed("suites")).split())
    for sid in specs.suite_ids():
        assert f"{sid}: " in text
    assert "structure-bridges-cpu x resnet10-kk-quick: 1 seed" in text
