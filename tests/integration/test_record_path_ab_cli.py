"""bench/record_path_ab.py's command line resolves refs with git (a child process): a bad
ref and an odd round count are clear errors."""

import pytest

from bench.record_path_ab import parse_args

pytestmark = pytest.mark.integration


def test_command_line_resolves_refs_and_refuses_bad_ones(capsys):
    args = parse_args(["--base", "HEAD", "--rounds", "2", "--load", "instant"])
    assert args.commits["base"] == args.commits["head"] and len(args.commits["base"]) == 40
    assert args.loads == ["instant"]
    with pytest.raises(SystemExit):
        parse_args(["--base", "no-such-ref-anywhere"])
    assert "no-such-ref-anywhere" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--base", "HEAD", "--rounds", "3"])
    assert "--rounds must be even" in capsys.readouterr().err
