"""The progress bar: drawn on a terminal, absent on a pipe or file and when turned off."""

import io

from muskie.progress import progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_is_drawn_on_a_terminal():
    stream = Terminal()
    assert list(progress_bar(range(3), desc="rendering", unit="scene", file=stream)) == [0, 1, 2]
    assert "rendering" in stream.getvalue() and "3/3" in stream.getvalue()


def test_no_bar_on_a_pipe_or_when_turned_off():
    pipe, terminal = io.StringIO(), Terminal()
    assert list(progress_bar(range(3), desc="rendering", file=pipe)) == [0, 1, 2]
    assert list(progress_bar(range(3), desc="rendering", enabled=False, file=terminal)) == [0, 1, 2]
    assert pipe.getvalue() == terminal.getvalue() == ""


def test_a_bar_updated_by_hand_counts_from_its_initial_value():
    stream = Terminal()
    with progress_bar(total=10, initial=4, unit="step", file=stream) as bar:
        bar.update(2)
        assert bar.n == 6
    assert "6/10" in stream.getvalue()
