"""Configs: presets are valid, bad values and unknown fields are typed errors; the CLI registers commands."""
import json

import pytest

from training.__main__ import parser
from training.config import PRESETS, ConfigError, load_config


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_validate(preset):
    cfg = load_config(preset)
    assert all(getattr(cfg, k) == v for k, v in PRESETS[preset].items())


def test_precedence_and_errors(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"ways": 7, "meta_steps": 3}))
    cfg = load_config("smoke", path, meta_steps=9, algorithm=None)
    assert (cfg.ways, cfg.meta_steps, cfg.tasks_per_batch) == (7, 9, PRESETS["smoke"]["tasks_per_batch"])
    for ok in ("static-meta", "static-meta:banking77", "static-ctx:hwu64", "artifact:models/default"):
        assert load_config("default", None, encoder=ok).encoder == ok
    for bad in ({"algorithm": "sgd"}, {"encoder": "bert"}, {"encoder": "static-meta:imdb"}, {"encoder": "teacher:hwu64"},
                {"encoder": "artifact:"}, {"protocol": "cross:imdb"}, {"ways": 1}, {"wayz": 5}):
        with pytest.raises(ConfigError):
            load_config(None, None, **bad)
    with pytest.raises(ConfigError):
        load_config("huge")


def test_cli_commands_registered():
    commands = parser()._subparsers._group_actions[0].choices
    assert {"smoke", "default", "train", "publish"} <= set(commands)
    args = parser().parse_args(["publish", "--target", "r2", "--if-absent", "x"])
    assert args.if_absent and args.target == "r2"
