"""The ``suggest`` command line: routing, output shapes, errors, help, README."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, invoke, no_traceback, run_suggest

from suggest import __version__
from suggest.cli import cli

COMMANDS = sorted(cli.commands)  # analyze (hidden, the default), batch, chat, check, eval, explain, review
PACK_COMMANDS = {  # a command line that loads packs, for each such command; {packs} is replaced
    "analyze": ["--intents", "{packs}", "包邮吗"],
    "batch": ["batch", "-", "--intents", "{packs}"],
    "chat": ["chat", "--intents", "{packs}"],
    "explain": ["explain", "--intents", "{packs}", "包邮吗"],
    "review": ["review", "--intents", "{packs}", "亲，马上为您安排发货"],
    "eval": ["eval", "{labelled}", "--intents", "{packs}"],
}


def one_json_line(text: str) -> dict[str, Any]:
    lines = text.splitlines()
    assert len(lines) == 1, text
    data = json.loads(lines[0])
    assert isinstance(data, dict)
    return data


def check_analysis_shape(data: dict[str, Any]) -> None:
    assert {"text", "normalized", "intents", "tags", "replies", "stage", "truncated", "timings_ms"} <= set(data)
    for match in data["intents"] + data["tags"]:
        assert set(match) == {"id", "score", "evidence"}
        assert 0.0 <= match["score"] <= 1.0
        for ev in match["evidence"]:
            assert {"kind", "pattern", "span", "text", "weight"} <= set(ev)
            start, end = ev["span"]
            assert 0 <= start <= end <= len(data["text"])
    for reply in data["replies"]:
        assert set(reply) == {"id", "intent", "text"}
        assert reply["text"].strip()


# -- the default command -------------------------------------------------------------------

def test_bare_text_prints_intents_and_numbered_replies() -> None:
    result = invoke(["包邮吗"])
    no_traceback(result)
    assert result.exit_code == 0, result.stderr
    assert "shipping" in result.stdout
    assert re.search(r"^\s+1\. \S", result.stdout, re.M), result.stdout
    assert "\x1b[" not in result.stdout  # not a terminal: no colours


def test_several_words_are_one_message() -> None:
    data = one_json_line(invoke(["包邮吗", "几天能到", "--json"]).stdout)
    assert data["text"] == "包邮吗 几天能到"
    assert "shipping" in [m["id"] for m in data["intents"]]


def test_json_is_one_line_with_the_documented_shape() -> None:
    result = invoke(["--json", "包邮吗"])
    assert result.exit_code == 0, result.stderr
    data = one_json_line(result.stdout)
    check_analysis_shape(data)
    assert "包邮吗" in result.stdout  # ensure_ascii=False: Chinese as itself
    assert [m["id"] for m in data["intents"]][:1] == ["shipping"]
    assert 1 <= len(data["replies"]) <= 3


def test_top_limits_replies() -> None:
    data = one_json_line(invoke(["--json", "--top", "1", "怎么退货"]).stdout)
    assert len(data["replies"]) == 1
    data = one_json_line(invoke(["--json", "--top", "0", "怎么退货"]).stdout)
    assert data["replies"] == []


def test_command_names_route_to_commands_and_analyze_takes_them_as_text() -> None:
    assert "Usage: suggest check" in invoke(["check", "--help"]).stdout
    data = one_json_line(invoke(["analyze", "--json", "check"]).stdout)
    assert data["text"] == "check"


def test_history_lifts_a_bare_follow_up() -> None:
    data = one_json_line(invoke(["--json", "-H", "发货了吗", "？"]).stdout)
    assert "shipping" in [m["id"] for m in data["intents"]]
    alone = one_json_line(invoke(["--json", "？"]).stdout)
    assert alone["intents"] == []


def test_stdin_dash() -> None:
    result = invoke(["-", "--json"], input="怎么退货\n".encode())
    assert result.exit_code == 0, result.stderr
    data = one_json_line(result.stdout)
    assert "return_exchange" in [m["id"] for m in data["intents"]]


def test_stdin_invalid_utf8_is_a_clear_error() -> None:
    result = invoke(["-"], input=b"\xff\xfe\xb0\xfc\xd3\xca\xc2\xf0")  # GBK, not UTF-8
    no_traceback(result)
    assert result.exit_code == 2
    assert "UTF-8" in result.stderr
    assert result.stdout == ""


def test_stdin_invalid_utf8_in_a_real_process() -> None:
    done = run_suggest(["-"], input="包邮吗".encode("gbk"))
    assert done.returncode == 2
    assert b"UTF-8" in done.stderr and b"Traceback" not in done.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="argv bytes are POSIX only")
def test_argv_that_is_not_utf8_is_a_clear_error() -> None:
    done = run_suggest([b"\xb0\xfc\xd3\xca"])
    assert done.returncode == 2
    assert b"UTF-8" in done.stderr and b"Traceback" not in done.stderr


@pytest.mark.parametrize("args, stdin", [([""], None), (["   "], None), (["\u200f\t"], None), (["-"], b""),
                                         (["-"], b"  \n\n")])
def test_empty_message_exits_2(args: list[str], stdin: bytes | None) -> None:
    result = invoke(args, input=stdin)
    no_traceback(result)
    assert result.exit_code == 2
    assert "empty" in result.stderr
    assert result.stdout == ""


def test_huge_message_is_cut_with_a_note() -> None:
    result = invoke(["-", "--json"], input=("包邮吗" * 400_000).encode())
    assert result.exit_code == 0, result.stderr
    assert one_json_line(result.stdout)["truncated"] is True
    assert "note:" in result.stderr
    human = invoke(["-"], input=("在吗" * 5000).encode())
    assert human.exit_code == 0 and "note:" in human.stderr


def test_version() -> None:
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"suggest {__version__}"


def test_python_m_suggest_works() -> None:
    done = run_suggest(["--json", "在吗"])
    assert done.returncode == 0, done.stderr
    assert "greeting" in [m["id"] for m in json.loads(done.stdout)["intents"]]


# -- clipboard -----------------------------------------------------------------------------

def test_copy_without_a_clipboard_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "SUGGEST_CLIPBOARD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no xclip, xsel, wl-copy, pbcopy
    monkeypatch.setitem(sys.modules, "pyperclip", None)  # and no pyperclip
    result = invoke(["--copy", "1", "在吗"])
    no_traceback(result)
    assert result.exit_code == 1
    assert "no clipboard" in result.stderr
    assert re.search(r"^\s+1\. ", result.stdout, re.M)  # the answer is still shown


@pytest.mark.skipif(sys.platform != "linux", reason="a desktop-less Linux session has no clipboard")
def test_copy_without_a_clipboard_in_a_real_process(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "DISPLAY": "", "WAYLAND_DISPLAY": ""}
    done = run_suggest(["--copy", "1", "在吗"], env=env)
    assert done.returncode == 1
    assert b"no clipboard" in done.stderr and b"Traceback" not in done.stderr


def test_copy_through_a_clipboard_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = tmp_path / "clip.txt"
    writer = "import sys; open(sys.argv[1], 'wb').write(sys.stdin.buffer.read())"
    monkeypatch.setenv("SUGGEST_CLIPBOARD", f"{sys.executable} -c \"{writer}\" {target}")
    result = invoke(["--copy", "2", "--json", "在吗"])
    assert result.exit_code == 0, result.stderr
    replies = one_json_line(result.stdout)["replies"]
    assert target.read_text(encoding="utf-8") == replies[1]["text"]
    assert "copied reply 2" in result.stderr


def test_copy_beyond_the_replies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUGGEST_CLIPBOARD", "none")
    result = invoke(["--copy", "1", "你们客服上班累不累"])  # no intent, so no reply
    assert result.exit_code == 1
    assert "no reply" in result.stderr or "no clipboard" in result.stderr


# -- broken packs: every command that loads them ------------------------------------------

@pytest.mark.parametrize("command", sorted(PACK_COMMANDS))
def test_broken_pack_is_reported_with_file_and_line(command: str, broken_intents: tuple[Path, Path],
                                                    tmp_path: Path) -> None:
    folder, broken = broken_intents
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text('{"text": "包邮吗", "intents": ["shipping"], "tags": []}\n', encoding="utf-8")
    args = [a.replace("{packs}", str(folder)).replace("{labelled}", str(labelled)) for a in PACK_COMMANDS[command]]
    result = invoke(args, input=b'{"text": "x"}\n')
    no_traceback(result)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert re.search(re.escape(str(broken)) + r":\d+:", result.stderr), result.stderr
    assert result.stdout == ""


def test_broken_pack_in_a_real_process_has_no_traceback(broken_intents: tuple[Path, Path]) -> None:
    folder, broken = broken_intents
    done = run_suggest(["--intents", str(folder), "包邮吗"])
    assert done.returncode == 2
    err = done.stderr.decode()
    assert f"{broken}:" in err and "Traceback" not in err


def test_missing_pack_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke(["--intents", str(tmp_path / "nowhere"), "包邮吗"])
    assert result.exit_code == 2
    assert "nowhere" in result.stderr


# -- check ---------------------------------------------------------------------------------

PROBLEM_LINE = re.compile(r"^(?P<file>[^:]+?)(:(?P<line>\d+))?: ")


def test_check_bundled_packs_prints_problem_lines_and_a_summary() -> None:
    result = invoke(["check"])
    no_traceback(result)
    lines = result.stdout.splitlines()
    assert lines, result.stderr
    summary = lines[-1]
    assert summary.startswith("ok:") or re.match(r"\d+ errors?, \d+ warnings?$", summary), summary
    problems = lines[:-1]
    for line in problems:
        assert PROBLEM_LINE.match(line), line
    errors = [line for line in problems if "warning:" not in line]
    assert result.exit_code == (2 if errors else 0)
    # errors first, then warnings
    kinds = ["w" if "warning:" in line else "e" for line in problems]
    assert kinds == sorted(kinds)


def test_check_broken_pack_exits_2_with_file_and_line(broken_intents: tuple[Path, Path]) -> None:
    folder, broken = broken_intents
    result = invoke(["check", "--intents", str(folder)])
    no_traceback(result)
    assert result.exit_code == 2
    assert re.search(re.escape(str(broken)) + r":\d+: ", result.stdout), result.stdout


def _fake_problems(monkeypatch: pytest.MonkeyPatch, *severities: str) -> None:
    from suggest import checking
    from suggest.errors import Problem

    problems = [Problem(f"/packs/p{i}.yaml", i + 1, "keywords[0]", f"message {i}", sev)
                for i, sev in enumerate(severities)]
    monkeypatch.setattr(checking, "check", lambda **kwargs: list(problems))


def test_check_warnings_alone_exit_0(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_problems(monkeypatch, "warning", "warning")
    result = invoke(["check"])
    assert result.exit_code == 0
    assert "/packs/p0.yaml:1: keywords[0]: warning: message 0" in result.stdout
    assert result.stdout.splitlines()[-1] == "0 errors, 2 warnings"


def test_check_errors_come_first_and_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_problems(monkeypatch, "warning", "error")
    result = invoke(["check"])
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert lines[0] == "/packs/p1.yaml:2: keywords[0]: message 1"
    assert lines[1].startswith("/packs/p0.yaml:1:")
    assert lines[-1] == "1 error, 1 warning"


def test_check_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_problems(monkeypatch)
    result = invoke(["check"])
    assert result.exit_code == 0
    assert result.stdout.startswith("ok:")


# -- eval, explain, review -----------------------------------------------------------------

@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    path = tmp_path / "labelled.jsonl"
    rows = [{"id": "t1", "text": "包邮吗", "intents": ["shipping"], "tags": []},
            {"id": "t2", "text": "在吗", "intents": ["greeting"], "tags": []},
            {"id": "t3", "text": "怎么退货", "intents": ["return_exchange", "size"], "tags": [], "history": []}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_eval_prints_a_table(labelled: Path) -> None:
    result = invoke(["eval", str(labelled)])
    no_traceback(result)
    assert result.exit_code == 0, result.stderr
    assert "micro-F1" in result.stdout
    assert "shipping" in result.stdout


def test_eval_json_and_errors(labelled: Path) -> None:
    data = one_json_line(invoke(["eval", str(labelled), "--json"]).stdout)
    assert data["messages"] == 3
    assert "micro" in data["intents"]
    result = invoke(["eval", str(labelled), "--errors"])
    assert result.exit_code == 0
    assert "size" in result.stdout  # the false negative is listed under its intent
    assert "negative" in result.stdout


def test_eval_bad_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n", encoding="utf-8")
    result = invoke(["eval", str(bad)])
    no_traceback(result)
    assert result.exit_code == 2
    assert "bad.jsonl" in result.stderr


def test_explain_shows_the_rules_that_fired() -> None:
    result = invoke(["explain", "包邮吗"])
    no_traceback(result)
    assert result.exit_code == 0, result.stderr
    assert "shipping" in result.stdout and "fired" in result.stdout
    assert "包邮" in result.stdout


def test_explain_json() -> None:
    data = one_json_line(invoke(["explain", "--json", "包邮吗"]).stdout)
    assert {"analysis", "tokens", "rules", "near_misses"} <= set(data)
    assert any(rule["id"] == "shipping" for rule in data["rules"])


def test_review_clean_and_flagged_drafts() -> None:
    pytest.importorskip("suggest.review")
    clean = invoke(["review", "亲，这款已经是活动价了，您可以领店铺优惠券再减5元哦～"])
    no_traceback(clean)
    assert clean.exit_code == 0, clean.stdout
    flagged = invoke(["review", "--json", "--buyer", "能便宜点吗", "不讲价，爱买不买"])
    no_traceback(flagged)
    assert flagged.exit_code == 1
    data = one_json_line(flagged.stdout)
    assert data["problems"]
    assert {"id", "reason", "start", "end", "text", "suggestion"} <= set(data["problems"][0])


def test_review_human_output_lists_problems() -> None:
    pytest.importorskip("suggest.review")
    result = invoke(["review", "不讲价，爱买不买"])
    assert result.exit_code == 1
    assert re.search(r"^1\. \[", result.stdout, re.M)


# -- help, README, CI ----------------------------------------------------------------------

@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_shows_an_example(command: str) -> None:
    result = invoke([command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout
    assert re.search(r"^\s+suggest \S", result.stdout, re.M), result.stdout


def test_group_help_shows_examples_and_commands() -> None:
    result = invoke(["--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout and "suggest \"包邮吗" in result.stdout
    for command in COMMANDS:
        if not cli.commands[command].hidden:
            assert command in result.stdout


def readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_mentions_every_command(command: str) -> None:
    text = readme()
    if command == "analyze":
        assert re.search(r'suggest "[^"\n]+"', text)  # the default command: suggest "TEXT"
    else:
        assert f"suggest {command}" in text


def test_readme_starts_with_the_two_setup_commands_and_ci_runs_the_test_one() -> None:
    text = readme()
    commands = re.findall(r"^(python3 -m venv .+)$", text, re.M)
    assert len(commands) >= 2, commands
    lookup, tests = commands[0], commands[1]
    assert "pip install ." in lookup and "suggest " in lookup
    assert "pytest" in tests
    assert tests in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_completion_script_is_generated() -> None:
    result = invoke([], env={"_SUGGEST_COMPLETE": "bash_source"})
    assert "_SUGGEST_COMPLETE" in result.stdout and "complete" in result.stdout


# -- start-up cost -------------------------------------------------------------------------

def test_one_shot_lookup_imports_nothing_it_does_not_need() -> None:
    """The agent's `suggest TEXT` must stay fast: no YAML parser, no pack loader, no pool, and
    no fuzzy matcher for a message with no phrase worth scoring."""
    script = (
        "import sys\n"
        "from suggest.cli import cli\n"
        "try:\n"
        "    cli.main(['--json', '包邮吗'], prog_name='suggest', standalone_mode=False)\n"
        "finally:\n"
        "    heavy = ['yaml', 'multiprocessing', 'suggest.packs', 'suggest.compiler', 'suggest.checking',\n"
        "             'suggest.evaluation', 'suggest.review', 'suggest.batch', 'suggest.chat', 'pyperclip',\n"
        "             'suggest.clipboard', 'readline', 'rapidfuzz']\n"
        "    print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    run = [sys.executable, "-c", script]
    subprocess.run(run, capture_output=True, timeout=120, cwd=ROOT, check=True)  # builds the cache
    done = subprocess.run(run, capture_output=True, timeout=60, cwd=ROOT, check=True)
    assert done.stderr.decode().strip().splitlines()[-1] == "[]", done.stderr.decode()
