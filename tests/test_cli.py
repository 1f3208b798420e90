import json
import subprocess
import sys

import pytest

from bharnet.cli import main


def test_models_lists_everything(capsys):
    assert main(["models", "--verbose"]) == 0
    out = capsys.readouterr().out
    for name in ("expert", "bharnet_p", "bharnet_e", "degcn", "mediapipe_hand (25 joints)"):
        assert name in out


def test_profile_model_json(capsys):
    assert main(["profile", "expert", "--num-classes", "60", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["model"] == "expert" and 0.82 < rec["paper_gmacs"] < 0.84


def test_profile_unknown_model_is_a_clear_error():
    with pytest.raises(SystemExit, match="unknown model"):
        main(["profile", "nope"])
    with pytest.raises(SystemExit, match="unknown argument"):
        main(["profile", "bharnet_e", "--set", "widht=3"])


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "bharnet", "profile", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--paper" in out.stdout


def test_configure_malloc_runs():
    import sys

    from bharnet.utils import configure_malloc
    assert configure_malloc() is sys.platform.startswith("linux")
