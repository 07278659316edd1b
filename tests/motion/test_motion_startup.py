"""umo generate / umo dance parse without numpy or torch (the parser is built before any work)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_generate_and_dance_parsers_import_no_numpy():
    code = """
from umo.cli import build_parser
build_parser(["--help"]).format_help()
build_parser(["generate", "jumps", "-o", "o"]).parse_args(["generate", "jumps", "-o", "o"])
build_parser(["dance", "m.ogg", "-o", "o"]).parse_args(["dance", "m.ogg", "-o", "o", "--style", "chill"])
import json, sys
print(json.dumps(sorted(sys.modules)))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    mods = {m.split(".")[0] for m in json.loads(proc.stdout.strip().splitlines()[-1])}
    assert not mods & {"numpy", "torch", "scipy", "librosa"}
