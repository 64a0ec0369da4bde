"""What a run of conversation tests prints, and its JUnit XML for CI."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from junitparser import Failure, JUnitXml, TestCase, TestSuite

from bot.cli.conversation_tests.runner import TestOutcome


def print_outcomes(outcomes: list[TestOutcome], *, verbose: bool = False) -> None:
    for outcome in outcomes:
        mark = "PASS" if outcome.passed else "FAIL"
        print(f"{mark}  {outcome.file}: {outcome.name} ({outcome.seconds:.1f} s)")
        for line in outcome.transcript if verbose else []:
            print("      " + line)
        for failure in outcome.failures:
            print("      " + failure.replace("\n", "\n      "))
    failed = sum(not o.passed for o in outcomes)
    print(f"\n{len(outcomes) - failed} passed, {failed} failed")


def write_junit(outcomes: list[TestOutcome], path: Path) -> None:
    """One suite per test file, one case per test; a failed case holds every message."""
    by_file: dict[Path, list[TestOutcome]] = defaultdict(list)
    for outcome in outcomes:
        by_file[outcome.file].append(outcome)
    xml = JUnitXml(name="conversation tests")
    for file, cases in by_file.items():
        suite = TestSuite(str(file))
        for outcome in cases:
            case = TestCase(outcome.name, classname=file.stem, time=round(outcome.seconds, 3))
            if not outcome.passed:
                failure = Failure(outcome.failures[0].splitlines()[0])
                failure.text = "\n".join(outcome.failures)
                case.result = [failure]
            suite.add_testcase(case)
        xml.add_testsuite(suite)
    xml.update_statistics()  # type: ignore[no-untyped-call]  # junitparser is untyped here
    path.parent.mkdir(parents=True, exist_ok=True)
    xml.write(str(path), pretty=True)
