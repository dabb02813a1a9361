"""Every subcommand has --help with an example; user mistakes exit 1 with one line and no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from litebert.__main__ import COMMANDS


def _leaves(tree, prefix=()):
    for name, node in tree.items():
        if isinstance(node, dict):
            yield from _leaves(node, (*prefix, name))
        else:
            yield (*prefix, name)


def _run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "litebert", *args], capture_output=True, text=True, **kw)


@pytest.mark.parametrize("command", list(_leaves(COMMANDS)), ids=" ".join)
def test_help_has_an_example(command):
    proc = _run(*command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage: litebert" in proc.stdout
    description = proc.stdout.split("options:", 1)[0]  # usage + the docstring's first line
    example_in_description = f"litebert {' '.join(command)} --" in description.split("\n\n", 1)[-1]
    assert "\nexample:\n  " in proc.stdout or example_in_description, proc.stdout[:600]


def test_convert_help_shows_the_flags_it_takes():
    """convert's help in the CLI's own spellings: `--from` (not the parameter name `from_`), and `--config` described
    as what convert reads it as (the original's albert_config.json), not as jsonargparse's file of arguments; the
    column of the options list kept."""
    out = _run("convert", "--help").stdout
    assert "--from_" not in out and "[--from FROM]" in out and "\n  --from FROM           tf | hf." in out
    assert "--config CONFIG       The original's albert_config.json" in out
    assert "Path to a configuration file" in _run("glue", "--help").stdout  # other commands: jsonargparse's --config


@pytest.mark.parametrize("args,message", [
    (("data", "stats", "/nonexistent/data"), "no manifest.json"),
    (("fill-mask", "/nonexistent/model", "--text", "a [MASK]"), "no such checkpoint directory"),
    (("plot", "/nonexistent/run"), "no metrics.jsonl"),
    (("plot", "/nonexistent/run", "--smooth", "0"), "--smooth 0: the moving-average window must be at least 1"),
    (("plot", "/nonexistent/run", "--output", "/tmp"), "--output /tmp is a directory"),
    (("pretrain", "--data.train_dir", "/nonexistent/data", "--train.device", "cpu"), "no manifest.json"),
    (("data", "create", "--input", "/nonexistent/*.txt", "--tokenizer", "x", "--output", "/tmp/x"), "no such file"),
])
def test_user_mistakes_exit_1_without_traceback(args, message):
    proc = _run(*args)
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-800:])
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_file_system_refusals_exit_1_naming_the_path(tmp_path):
    """An output path that is a file where a directory is expected (any command): one line naming it, exit 1."""
    (tmp_path / "afile").write_text("x")
    proc = _run("tokenizer", "train", "--input", str(tmp_path / "afile"), "--output", str(tmp_path / "afile" / "tok"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-800:]
    assert "litebert: error:" in proc.stderr and "afile" in proc.stderr


def test_a_config_file_that_is_not_text_is_named(tmp_path):
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"train:\n  max_steps: \xff\xfe\x8f\n")
    proc = _run("pretrain", "--config", str(bad))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-800:]
    assert f"{bad}:2: not valid UTF-8" in proc.stderr


def test_device_names_that_cannot_work_are_user_errors():
    import torch

    from litebert.distributed import DeviceError, resolve_device
    with pytest.raises(DeviceError, match="'tpu': not a torch device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no CUDA GPU is visible"):
            resolve_device("cuda")
    with pytest.raises(DeviceError):
        resolve_device(f"cuda:{torch.cuda.device_count()}")  # one past the last visible GPU
    assert resolve_device("cpu").type == "cpu"


def test_list_flags_collect_repeats_and_keep_texts_verbatim():
    from litebert.__main__ import normalize_argv as norm

    assert norm(["embed", "--pooling", "mean", "M", "--text", "a b", "--text=null", "--text", "[Laughter]"]) == [
        "embed", "--pooling", "mean", "M", "--text", '["a b", "null", "[Laughter]"]']  # one value for --pooling
    assert norm(["fill-mask", "M", "--text", '["x [MASK]", "y"]']) == ["fill-mask", "M", "--text", '["x [MASK]", "y"]']
    assert norm(["squad", "--predict-file", "d.json", "--model", "M"]) == [
        "squad", "--predict_file", "d.json", "--model", "M"]  # the default subcommand is resolved for its flags
    assert norm(["convert", "--from", "tf", "ckpt", "--output", "o"]) == ["convert", "--from_", "tf", "ckpt",
                                                                        "--output", "o"]
    # convert's --config is the original albert_config.json, also after options placed before the command; a
    # --config before it, or any other command's, stays jsonargparse's file of arguments
    assert norm(["--print_config", "convert", "ck", "--config", "a.json"]) == [
        "--print_config", "convert", "ck", "--albert_config", "a.json"]
    assert norm(["--config", "top.yaml", "convert", "ck", "--config", "a.json"]) == [
        "--config", "top.yaml", "convert", "ck", "--albert_config", "a.json"]
    assert norm(["pretrain", "--config", "r.yaml"]) == ["pretrain", "--config", "r.yaml"]


def test_repeated_texts_all_reach_the_command(pretrained, capsys):
    import json

    from litebert.__main__ import main

    main(["embed", "--pooling", "mean", str(pretrained), "--text", "first text", "--text", "[MASK] null",
          "--device", "cpu"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == ["first text", "[MASK] null"]
