"""The bad-input matrix's case count in pytest's closing summary (tests/integration/test_bad_input.py records
it per test as a user property, so it is summed across xdist workers too)."""
CASES = "bad_input_cases"


def pytest_terminal_summary(terminalreporter):
    counts = [value for reports in terminalreporter.stats.values() for report in reports
              if getattr(report, "when", None) == "call"
              for name, value in getattr(report, "user_properties", ()) if name == CASES]
    if counts:
        terminalreporter.write_line(f"bad-input matrix: {sum(counts)} cases in {len(counts)} tests "
                                    f"(tests/integration/test_bad_input.py)")
