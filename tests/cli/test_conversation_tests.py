"""`bot test`: the example bot's conversation tests pass, a broken expectation fails with a
readable diff and JUnit XML, a misspelt key is named, a new bot's tests pass as made, and
a recorded conversation replays as a passing test."""

from __future__ import annotations

import asyncio
import secrets
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from junitparser import JUnitXml

from adapters.web import ChatRequest, WebChatAdapter, new_session_id, to_inbound
from bot.cli import main
from bot.cli.conversation_tests.record import recorded_test
from bot.cli.conversation_tests.spec import load_conversation_file
from bot.runtime import Runtime
from tests.conftest import ROOT, build_test_settings, migrated_database, primary_server_url

STUDIO = ROOT / "bots/studio"


@pytest.fixture
def test_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """`bot test`'s process settings: the test server, a data folder of its own."""
    monkeypatch.setenv("DATABASE_URL", primary_server_url())
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MODEL_CACHE_DIR", str(ROOT / ".data/test-models"))
    monkeypatch.setenv("INJECTION_EMBEDDING", "false")
    monkeypatch.setenv("LOG_JSON", "false")
    monkeypatch.setenv("BOT_DEFINITION", str(STUDIO / "bot.yaml"))
    return tmp_path


def test_the_studio_conversation_tests_pass_and_are_written_as_junit(
        test_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = test_env / "junit.xml"
    assert main(["test", str(STUDIO), "--junit", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "0 failed" in printed
    xml = JUnitXml.fromfile(str(report))
    cases = [case for suite in xml for case in suite]
    assert len(cases) >= 15 and all(case.is_passed for case in cases)
    root = ET.parse(report).getroot()
    assert root.tag == "testsuites" and int(root.attrib["tests"]) == len(cases)
    assert root.attrib["failures"] == "0"


BROKEN = """
tests:
  - name: a broken expectation
    steps:
      - say: hello
        expect:
          reply: Hi there!
          buttons: [Only this]
"""


def test_a_broken_expectation_fails_with_a_readable_diff(
        test_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (test_env / "tests").mkdir()
    (test_env / "tests" / "broken.yaml").write_text(BROKEN, encoding="utf-8")
    report = test_env / "junit.xml"
    assert main(["test", str(test_env / "tests"), "--junit", str(report)]) == 1
    printed = capsys.readouterr().out
    assert "FAIL" in printed and "1 failed" in printed
    assert "--- expected reply\n" in printed and "+++ actual reply\n" in printed
    assert "-Hi there!\n" in printed and "+Hi! I'm Harbor Fitness" in printed
    assert "buttons: expected ['Only this'], got ['Class schedule'" in printed
    [suite] = list(JUnitXml.fromfile(str(report)))
    [case] = list(suite)
    [failure] = case.result
    assert suite.failures == 1 and "reply differs" in (failure.text or "")


def test_a_misspelt_expectation_is_named_with_its_place(
        test_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (test_env / "tests").mkdir()
    (test_env / "tests" / "typo.yaml").write_text(
        BROKEN.replace("reply: Hi there!", "reply_contain: Hi"), encoding="utf-8")
    assert main(["test", str(test_env / "tests")]) == 1
    error = capsys.readouterr().err
    assert "typo.yaml: tests.0.steps.0.expect.reply_contain: Extra inputs are not permitted" \
        in error


def test_a_new_bots_tests_pass_as_made(
        test_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a name of its own: a plugin's module name is process-wide, and tests share a process
    assert main(["new", f"Corner Bakery {secrets.token_hex(3)}", "--dir",
                 str(test_env / "bots")]) == 0
    printed = capsys.readouterr().out
    command = next(line for line in printed.splitlines() if line.startswith("test it with:"))
    folder = command.removeprefix("test it with: bot test ").strip()
    assert main(["test", folder]) == 0
    assert "3 passed, 0 failed" in capsys.readouterr().out


def test_a_recorded_conversation_replays_as_a_passing_test(
        test_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async def converse(runtime: Runtime, texts: list[str]) -> str:
        web = runtime.adapters["web"]
        assert isinstance(web, WebChatAdapter)
        session = new_session_id()
        for text in texts:
            result = await runtime.ingest(to_inbound(ChatRequest(text=text), session,
                                                       "local:" + session))
            await web.wait_reply(result)
        return await recorded_test(runtime.db, result.conversation_id, "recorded")

    async def record() -> tuple[str, str]:
        # a database of its own: other tests' bookings would change the seats left, which
        # the recorded replies state exactly
        async with migrated_database(primary_server_url()) as conninfo:
            settings = build_test_settings(conninfo, test_env, prepare_bot_on_start=True,
                                           bot_definition=STUDIO / "bot.yaml")
            runtime = Runtime(settings)
            await runtime.start(worker=True)
            try:
                return (await converse(runtime, ["hello", "when is yoga on Saturday?"]),
                        await converse(runtime, ["my number is +1 415 555 0134"]))
            finally:
                await runtime.stop()

    text, with_a_number = asyncio.run(record())
    # the customer's words are kept, their phone number is not; no identity is written
    assert "say: my number is" in with_a_number and "555 0134" not in with_a_number
    assert "session" not in text + with_a_number and "contact" not in text + with_a_number
    recorded = test_env / "tests" / "recorded.yaml"
    recorded.parent.mkdir()
    recorded.write_text(text, encoding="utf-8")
    [test] = load_conversation_file(recorded).tests
    assert [s.say for s in test.steps] == ["hello", "when is yoga on Saturday?"]
    assert test.steps[1].expect.reply is not None
    assert test.steps[1].expect.reply.startswith("Yoga classes on Saturday")
    assert test.steps[1].expect.intent == "class_schedule"
    assert test.steps[1].expect.buttons  # the listed classes' buttons
    assert main(["test", str(recorded)]) == 0, capsys.readouterr().out


def test_the_documented_example_passes(
        test_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "docs/bot-definition.md").read_text(encoding="utf-8")
    section = text[text.index("## Conversation tests"):]
    example = section[section.index("```yaml\n") + 8:section.index("```\n", 8)]
    (test_env / "tests").mkdir()
    (test_env / "tests" / "documented.yaml").write_text(example, encoding="utf-8")
    assert main(["test", str(test_env / "tests")]) == 0, capsys.readouterr().out
    assert "2 passed, 0 failed" in capsys.readouterr().out


def test_the_documented_plugin_runs_as_written(
        test_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """docs/bot-definition.md's plugin, definition and test, as files of a bot."""
    text = (ROOT / "docs/bot-definition.md").read_text(encoding="utf-8")
    section = text[text.index("### Handlers and tools"):]
    blocks = [b.split("```", 1)[0] for b in section.split("```python\n")[1:2]
              + section.split("```yaml\n")[1:3]]
    plugin, definition, tests = blocks
    folder = test_env / "bots" / "bakery"
    (folder / "docs_bakery").mkdir(parents=True)
    (folder / "tests").mkdir()
    (folder / "docs_bakery" / "__init__.py").write_text("", encoding="utf-8")
    (folder / "docs_bakery" / "plugin.py").write_text(plugin, encoding="utf-8")
    (folder / "bot.yaml").write_text(definition, encoding="utf-8")
    (folder / "tests" / "bread.yaml").write_text(tests, encoding="utf-8")
    assert main(["test", str(folder)]) == 0, capsys.readouterr().out
    assert "2 passed, 0 failed" in capsys.readouterr().out
