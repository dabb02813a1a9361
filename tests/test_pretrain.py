"""Pretraining invariants: accumulation and data parallelism give the big batch's update, resume after SIGKILL is
exact, torn checkpoints are ignored, non-finite losses stop or skip, every shipped recipe parses."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from litebert.config import ConfigError
from litebert.data import create as C
from litebert.optim import OptimConfig
from litebert.pretrain import (DataArgs, ModelArgs, Pretrainer, TrainArgs, TrainingError, build_model_config,
                               latest_checkpoint)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data not present")

SMALL = {"embedding_size": 16, "hidden_size": 32, "num_hidden_layers": 4, "num_hidden_groups": 2,
         "inner_group_num": 2, "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 64}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """Real text, the real ALBERT vocabulary, seq 64, 3 shards (the last one is held out for evaluation)."""
    root = tmp_path_factory.mktemp("pt")
    shutil.copy(DATA / "spm" / "albert_en_30k-clean.RECONSTRUCTED.model", root / "spiece.model")
    files = [str(p) for p in sorted((DATA / "pretrain_text" / "gutenberg").glob("PG*.txt.xz"))[:3]]
    C.create_pretraining_data(files, str(root), str(root / "data"),
                              C.CreateOptions(max_seq_length=64, dupe_factor=1, chunk_chars=20_000),
                              strip_gutenberg=True, progress=False)
    return root / "data"


def _args(data_dir: Path, out: Path, **train):
    t = dict(out_dir=str(out), global_batch_size=16, micro_batch_size=16, max_steps=4, precision="fp32",
             log_every=1, eval_every=0, save_every=0, progress=False, tensorboard=False, resume=False, seed=3)
    t.update(train)
    return (ModelArgs(preset="tiny", overrides=SMALL), DataArgs(train_dir=str(data_dir)),
            OptimConfig(lr=0.01, warmup_steps=1), TrainArgs(**t))


def _params_after(data_dir, out, steps=2, **train) -> dict:
    trainer = Pretrainer(*_args(data_dir, out, max_steps=steps, **train))
    trainer.fit()
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def test_gradient_accumulation_equals_one_big_batch(tmp_path, data_dir):
    big = _params_after(data_dir, tmp_path / "a", micro_batch_size=16)
    accum = _params_after(data_dir, tmp_path / "b", micro_batch_size=4)  # 4 micro-batches of 4
    assert big.keys() == accum.keys()
    worst = max((big[k] - accum[k]).abs().max().item() for k in big)
    assert worst <= 1e-6, worst
    initial = Pretrainer(*_args(data_dir, tmp_path / "c")).model.state_dict()  # (max_steps 0 is refused)
    moved = max((big[k] - v).abs().max().item() for k, v in initial.items())
    assert moved > 1e-3  # the steps did change the weights


def _torchrun(args: list[str], nproc: int, env_extra: dict | None = None, **popen) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0", **(env_extra or {})}
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--master_port",
           str(29500 + random.randint(0, 2000)), "-m", "litebert", "pretrain", *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def _cli_args(data_dir: Path, out: Path, **kw) -> list[str]:
    a = {"--model.preset": "tiny", "--model.overrides": json.dumps(SMALL), "--data.train_dir": str(data_dir),
         "--optim.lr": "0.01", "--optim.warmup_steps": "1", "--train.out_dir": str(out),
         "--train.global_batch_size": "16", "--train.micro_batch_size": "8", "--train.max_steps": "5",
         "--train.precision": "fp32", "--train.log_every": "1", "--train.eval_every": "0", "--train.save_every": "0",
         "--train.progress": "false", "--train.tensorboard": "false", "--train.seed": "3",
         "--train.deterministic": "true", "--device": None}
    a.pop("--device")
    a.update(kw)
    return [x for k, v in a.items() for x in (k, v)]


def _losses(out: Path) -> list[float]:
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [r["loss"] for r in sorted(rows, key=lambda r: r["step"])]


def test_two_process_gloo_equals_one_process(tmp_path, data_dir):
    one = _torchrun(_cli_args(data_dir, tmp_path / "one"), 1)
    out1 = one.communicate(timeout=600)[0]
    assert one.returncode == 0, out1
    two = _torchrun(_cli_args(data_dir, tmp_path / "two"), 2)  # micro 8 per rank x 2 ranks = the same global 16
    out2 = two.communicate(timeout=600)[0]
    assert two.returncode == 0, out2
    info = json.loads((tmp_path / "two" / "run_info.json").read_text())
    assert info["world_size"] == 2 and info["accumulation_steps"] == 1
    l1, l2 = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(l1) == len(l2) == 5
    assert max(abs(a - b) for a, b in zip(l1, l2)) <= 1e-5, (l1, l2)
    from safetensors.torch import load_file

    w1 = load_file(tmp_path / "one" / "checkpoints" / "step_00000005" / "model.safetensors")
    w2 = load_file(tmp_path / "two" / "checkpoints" / "step_00000005" / "model.safetensors")
    assert max((w1[k] - w2[k]).abs().max().item() for k in w1) <= 1e-5


def test_sigkill_then_resume_reproduces_the_uninterrupted_run_exactly(tmp_path, data_dir):
    steps = 10
    kw = {"--train.max_steps": str(steps), "--train.save_every": "2", "--train.micro_batch_size": "16"}
    ref = _torchrun(_cli_args(data_dir, tmp_path / "ref", **kw), 1)
    assert ref.wait(timeout=600) == 0, ref.stdout.read()
    victim = _torchrun(_cli_args(data_dir, tmp_path / "run", **kw), 1, start_new_session=True)
    kill_at = random.Random().randint(3, steps - 2)
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= kill_at:
            break
        if victim.poll() is not None:
            pytest.fail(f"run ended before the kill: {victim.stdout.read()}")
        time.sleep(0.05)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    assert latest_checkpoint(tmp_path / "run", 1) is not None
    again = _torchrun(_cli_args(data_dir, tmp_path / "run", **kw), 1)
    out = again.communicate(timeout=600)[0]
    assert again.returncode == 0, out
    assert "resumed from" in out
    assert _losses(tmp_path / "run") == _losses(tmp_path / "ref")  # bit for bit


def test_torn_checkpoints_are_never_picked_up(tmp_path, data_dir):
    _params_after(data_dir, tmp_path, steps=2, save_every=1)
    root = tmp_path / "checkpoints"
    assert latest_checkpoint(tmp_path, 1).name == "step_00000002"
    shutil.copytree(root / "step_00000002", root / ".step_00000009.tmp")  # a write that never finished its rename
    partial = root / "step_00000007"
    shutil.copytree(root / "step_00000002", partial)
    (partial / "rng_rank0.pt").unlink()  # killed before every rank wrote its state
    (root / "step_00000008").mkdir()  # an empty directory
    assert latest_checkpoint(tmp_path, 1).name == "step_00000002"
    with pytest.raises(TrainingError, match="step_00000002 was written by 1 rank"):  # not a silent start over
        latest_checkpoint(tmp_path, 2)
    shutil.copy(root / "step_00000002" / "rng_rank0.pt", root / "step_00000002" / "rng_rank1.pt")
    with pytest.raises(TrainingError, match="written by 2 rank.*this run has 1"):
        latest_checkpoint(tmp_path, 1)


def test_a_fresh_run_refuses_an_out_dir_holding_another_runs_checkpoints(tmp_path, data_dir):
    """Rotation keeps the highest steps: a fresh run there would delete its own checkpoints, keep the old run's."""
    _params_after(data_dir, tmp_path, steps=3, save_every=1)
    before = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    rows = (tmp_path / "metrics.jsonl").read_text()
    with pytest.raises(TrainingError, match=f"{tmp_path} already holds checkpoints.*resume is off.*--train.resume"):
        Pretrainer(*_args(data_dir, tmp_path, max_steps=1, resume=False))
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == before
    assert (tmp_path / "metrics.jsonl").read_text() == rows


def test_a_torn_last_metrics_row_is_dropped_a_malformed_one_is_named(tmp_path, data_dir, capsys):
    _params_after(data_dir, tmp_path, steps=2, save_every=1)
    metrics = tmp_path / "metrics.jsonl"
    with open(metrics, "a") as f:
        f.write('{"step": 3, "lr": 0.00')  # killed mid-write
    Pretrainer(*_args(data_dir, tmp_path, max_steps=3, resume=True)).fit()
    assert "dropped a torn last row" in capsys.readouterr().err
    assert [json.loads(x)["step"] for x in metrics.read_text().splitlines()] == [1, 2, 3]
    lines = metrics.read_text().splitlines()
    metrics.write_text("\n".join([lines[0], "{oops", *lines[1:]]) + "\n")
    with pytest.raises(TrainingError, match="metrics.jsonl:2: malformed"):
        Pretrainer(*_args(data_dir, tmp_path, max_steps=3, resume=True)).fit()


def test_held_out_data_and_intervals_are_checked_at_setup(tmp_path, data_dir):
    shards = json.loads((data_dir / "manifest.json").read_text())["shards"]
    n = shards[-1]["num_instances"]  # the held-out shard: one evaluation batch of n + 1 cannot be filled
    with pytest.raises(TrainingError, match=f"{shards[-1]['name']} holds {n} instance.*needs \\({n + 1}.*eval_every 0"):
        Pretrainer(*_args(data_dir, tmp_path, global_batch_size=n + 1, micro_batch_size=n + 1, eval_every=1000))
    with pytest.raises(ValueError, match="log_every must be >= 1"):
        TrainArgs(log_every=0)
    with pytest.raises(ValueError, match="eval_holdout_shards must be >= 0"):
        DataArgs(eval_holdout_shards=-1)
    # eval_holdout_shards 0: train on every shard, no evaluation
    m, _, o, t = _args(data_dir, tmp_path, max_steps=1, eval_every=1)
    trainer = Pretrainer(m, DataArgs(train_dir=str(data_dir), eval_holdout_shards=0), o, t)
    assert trainer.eval_data is None and len(trainer.train_data) == sum(s["num_instances"] for s in shards)
    assert trainer.fit()["last_eval"] == {}
    # sequences longer than the model's positions: at setup, with the two ways out (was a traceback at step 1)
    m, d, o, t = _args(data_dir, tmp_path / "pos")
    with pytest.raises(TrainingError, match=r"sequences of 64 tokens, but the model has 32 positions; create the data "
                                            r"with --max_seq_length 32 .*--model.overrides.max_position_embeddings 64\)"):
        Pretrainer(ModelArgs(preset="tiny", overrides={**SMALL, "max_position_embeddings": 32}), d, o, t)


def test_checkpoints_carry_the_datas_tokenizer(tmp_path, data_dir, capsys):
    """`litebert fill-mask runs/x/best` needs a tokenizer beside the weights: the one the data was made with."""
    from litebert.tokenizer import load_tokenizer

    Pretrainer(*_args(data_dir, tmp_path / "a", max_steps=2, save_every=2)).fit()
    step = tmp_path / "a" / "checkpoints" / "step_00000002"
    tok = load_tokenizer(step)
    assert tok.vocab_size == 30000 and tok.model_max_length == 64 and (step / "model.safetensors").is_file()
    moved = tmp_path / "moved"  # the tokenizer's path in the manifest is gone: training goes on without it
    shutil.copytree(data_dir, moved)
    manifest = json.loads((moved / "manifest.json").read_text())
    manifest["tokenizer"]["path"] = str(tmp_path / "gone")
    (moved / "manifest.json").write_text(json.dumps(manifest))
    Pretrainer(*_args(moved, tmp_path / "b", max_steps=2, save_every=2)).fit()
    assert "checkpoints carry no tokenizer" in capsys.readouterr().err
    assert not (tmp_path / "b" / "checkpoints" / "step_00000002" / "spiece.model").exists()


def test_nonfinite_loss_stops_naming_the_step_or_is_skipped(tmp_path, data_dir):
    trainer = Pretrainer(*_args(data_dir, tmp_path / "a", max_steps=3))
    with torch.no_grad():
        trainer.model.albert.embeddings.norm.weight.fill_(float("nan"))
    with pytest.raises(TrainingError, match="non-finite loss at step 0"):
        trainer.fit()
    trainer = Pretrainer(*_args(data_dir, tmp_path / "b", max_steps=3, on_nonfinite="skip"))
    with torch.no_grad():
        trainer.model.albert.embeddings.norm.weight.fill_(float("nan"))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    summary = trainer.fit()
    assert summary["skipped_steps"] == 3
    after = trainer.model.state_dict()
    assert all(torch.equal(before[k], after[k]) or before[k].isnan().any() for k in before)


def test_losses_are_read_once_per_log_window_with_the_same_numbers(tmp_path, data_dir, monkeypatch):
    """Steps leave their losses on the device and `_flush` reads a log window's worth at once (no host sync per step):
    with log_every 5 there are 2 reads in 10 steps, and every row equals the log_every=1 run's."""
    every = Pretrainer(*_args(data_dir, tmp_path / "a", max_steps=10))
    every.fit()
    windowed = Pretrainer(*_args(data_dir, tmp_path / "b", max_steps=10, log_every=5))
    reads = []
    flush = windowed._flush
    monkeypatch.setattr(windowed, "_flush", lambda pending: reads.append(len(pending)) or flush(pending))
    windowed.fit()
    assert reads == [5, 5]
    rows = [[json.loads(x) for x in (tmp_path / d / "metrics.jsonl").read_text().splitlines()] for d in "ab"]
    assert [r["step"] for r in rows[1]] == list(range(1, 11))
    for key in ("loss", "masked_lm_loss", "sentence_order_loss", "grad_norm", "lr", "predictions"):
        assert [r[key] for r in rows[0]] == [r[key] for r in rows[1]], key
    assert "seq_per_s" in rows[1][4] and "seq_per_s" not in rows[1][3]


def test_a_nonfinite_step_inside_a_log_window_is_named_and_nothing_is_saved(tmp_path, data_dir, monkeypatch):
    trainer = Pretrainer(*_args(data_dir, tmp_path, max_steps=12, log_every=4, save_every=4))
    step = trainer.train_step

    def poisoned(micro):  # step index 5 (the 6th step) produces a NaN loss
        stats, skipped = step(micro)  # [mlm sum, sop sum, grad norm, predictions]
        poison = torch.tensor([float("nan"), 1.0, 1.0, 1.0], device=stats.device)
        return (stats * poison if trainer.step == 5 else stats), skipped

    monkeypatch.setattr(trainer, "train_step", poisoned)
    with pytest.raises(TrainingError, match="non-finite loss at step 5 "):
        trainer.fit()
    saved = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert saved == ["step_00000004"]  # the window holding the NaN step was never checkpointed
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 4


def test_batch_arithmetic_is_checked(tmp_path, data_dir):
    with pytest.raises(TrainingError, match="not a multiple"):
        Pretrainer(*_args(data_dir, tmp_path, global_batch_size=20, micro_batch_size=8))
    with pytest.raises(ValueError, match="compile_mode must be default, reduce-overhead"):
        TrainArgs(compile_mode="fast")


def test_every_shipped_recipe_parses():
    from jsonargparse import ArgumentParser

    from litebert.pretrain import pretrain

    recipes = sorted((ROOT / "configs" / "pretrain").glob("*.yaml"))
    assert {p.stem for p in recipes} >= {"tiny", "albert-base-v2", "albert-large-v2", "albert-xxlarge-v2", "bert-base"}
    for path in recipes:
        parser = ArgumentParser()
        parser.add_function_arguments(pretrain)
        parser.add_argument("--config", action="config")
        cfg = parser.parse_args(["--config", str(path)])
        init = parser.instantiate(cfg)
        assert isinstance(init.train, TrainArgs) and isinstance(init.optim, OptimConfig), path
        if "albert" in path.stem and "tiny" not in path.stem:
            assert init.optim.name == "lamb" and init.optim.lr == 0.00176 and init.train.global_batch_size == 4096
            assert init.train.max_steps == 125000 and init.optim.warmup_steps == 3125


def test_prefetcher_hands_over_pinned_tensors_for_the_gpu(tmp_path, data_dir, monkeypatch):
    """On CUDA the prefetch thread puts every model input in page-locked memory (so the copy to the GPU does not wait
    for the GPU's queued work); the statistics-only n-gram histogram stays a numpy array. pin_memory is replaced by a
    recorder here, as a CPU-only torch cannot pin."""
    from litebert.pretrain import Prefetcher

    trainer = Pretrainer(*_args(data_dir, tmp_path))
    pinned = []
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self: pinned.append(self.shape) or self)
    for pin in (False, True):
        prefetch = Prefetcher(trainer.iterator, trainer.masker, 0, 0, 2, pin=pin)
        micro, _ = prefetch.next()
        prefetch.close()
        assert len(micro) == 2
        for batch in micro:
            assert all(torch.is_tensor(v) for k, v in batch.items() if k != "ngram_hist")
        if not pin:
            assert pinned == []
    tensors = sum(1 for k in micro[0] if k != "ngram_hist")
    assert tensors >= 6 and len(pinned) >= 2 * tensors  # every input of both micro-batches (the thread runs ahead)
    b = trainer._to_device(micro[0])
    assert set(b) == {k for k in micro[0] if k != "ngram_hist"} and all(v.device.type == "cpu" for v in b.values())


def test_device_choice_and_deterministic_cublas(monkeypatch):
    """GPU-only branches, checked on a CPU box with torch.cuda stubbed: a named GPU is used in a single process;
    under torchrun a GPU other than cuda:LOCAL_RANK is refused; deterministic mode sets cuBLAS's workspace (torch
    raises at every matmul on a GPU without it) and keeps a user's value."""
    from litebert import distributed as D
    from litebert import training as T

    chosen = []
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # resolve_device checks a GPU is there
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    assert D.init_distributed("cuda:1").device == torch.device("cuda", 1) and chosen == [torch.device("cuda", 1)]
    assert D.init_distributed("cuda").device == torch.device("cuda", 0)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(D.DeviceError, match="each process uses cuda:LOCAL_RANK"):
        D.init_distributed("cuda:1")
    calls = []
    monkeypatch.setattr(torch, "use_deterministic_algorithms", calls.append)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    T.deterministic_algorithms(torch.device("cpu"))
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ and calls == [True]
    T.deterministic_algorithms(torch.device("cuda", 0))
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    T.deterministic_algorithms(torch.device("cuda", 0))
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


def test_compiled_pretraining_matches_eager(tmp_path, data_dir):
    """train.compile: the compiled model with its losses (PretrainingLosses, one graph) takes the eager run's steps."""
    torch._dynamo.reset()
    eager = _params_after(data_dir, tmp_path / "eager", steps=3)
    compiled = _params_after(data_dir, tmp_path / "compiled", steps=3, compile=True)
    assert eager.keys() == compiled.keys()
    worst = max((eager[k] - compiled[k]).abs().max().item() for k in eager)
    assert worst <= 1e-4, worst


def test_settings_are_checked_as_user_errors_naming_the_field(tmp_path, data_dir, capsys):
    """eval_steps 0 evaluated zero sequences (loss 0.0) and saved best/ on it; max_steps -5 exited 0 having done
    nothing; fp8 and an overrides typo were ValueError/TypeError tracebacks."""
    from litebert.__main__ import main

    for field, value, message in [("eval_steps", 0, "train.eval_steps must be >= 1 .*--train.eval_every 0"),
                                  ("max_steps", -5, "train.max_steps must be >= 1, got -5"),
                                  ("max_steps", 0, "train.max_steps must be >= 1, got 0"),
                                  ("global_batch_size", 0, "train.global_batch_size must be >= 1"),
                                  ("micro_batch_size", -1, "train.micro_batch_size must be >= 1"),
                                  ("keep_checkpoint_max", -1, r"train.keep_checkpoint_max must be >= 0 \(0: keep all"),
                                  ("save_every", -1, "train.save_every must be >= 0"),
                                  ("seed", -1, "train.seed must be >= 0"),
                                  ("precision", "fp8", "train.precision must be fp32, bf16 or fp16, got 'fp8'")]:
        with pytest.raises(ConfigError, match=message):
            TrainArgs(**{field: value})
    with pytest.raises(ConfigError, match="data.eval_holdout_shards must be >= 0"):
        DataArgs(eval_holdout_shards=-1)
    with pytest.raises(ConfigError, match=r"model.overrides: unknown config field 'hiden_size' \(did you mean "
                                          r"'hidden_size'\?\)"):
        build_model_config(ModelArgs(overrides={"hiden_size": 64}), 30000)
    # the CLI prints one line and exits 1 (the reviewer's invocations)
    base = _cli_args(data_dir, tmp_path / "cli")
    for flags, message in [(["--train.precision", "fp8"], "train.precision must be fp32, bf16 or fp16"),
                           (["--optim.name", "sgdx"], "optim.name must be lamb, adamw or torch_adamw, got 'sgdx'"),
                           (["--optim.lr", "-1"], "optim.lr must be > 0, got -1.0"),
                           (["--model.overrides", "{hiden_size: 64}"], "unknown config field 'hiden_size'"),
                           (["--train.eval_steps", "0"], "train.eval_steps must be >= 1"),
                           (["--train.max_steps", "-5"], "train.max_steps must be >= 1")]:
        with pytest.raises(SystemExit) as e:
            main(["pretrain", *base, *flags])
        err = capsys.readouterr().err
        assert e.value.code == 1 and err.startswith("litebert: error: ") and message in err, err
        assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "cli").exists()
    # an out_dir that is a file (or under one): named at setup, not FileExistsError / NotADirectoryError at fit
    (tmp_path / "file").write_text("")
    for out, message in [(tmp_path / "file", "file: a file, not a directory"),
                         (tmp_path / "file" / "run", "file/run: .*file is a file, not a directory")]:
        with pytest.raises(TrainingError, match=f"--train.out_dir .*{message}; choose a directory"):
            Pretrainer(*_args(data_dir, out))


def test_eval_dir_made_with_another_tokenizer_is_refused(tmp_path, data_dir):
    other = tmp_path / "other"
    shutil.copytree(data_dir, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["tokenizer"].update(path="/elsewhere/tok", sha256="0" * 64, vocab_size=manifest["tokenizer"]["vocab_size"] + 1)
    (other / "manifest.json").write_text(json.dumps(manifest))
    m, _, o, t = _args(data_dir, tmp_path / "run", eval_every=1)
    with pytest.raises(TrainingError, match=rf"--data.eval_dir {other} was made with another tokenizer "
                                            rf"\(/elsewhere/tok, sha256 000000000000\) than --data.train_dir "
                                            rf"{data_dir} \(\S+, sha256 [0-9a-f]{{12}}\); create the held-out data"):
        Pretrainer(m, DataArgs(train_dir=str(data_dir), eval_dir=str(other)), o, t)
    Pretrainer(m, DataArgs(train_dir=str(data_dir), eval_dir=str(data_dir)), o, t)  # the same tokenizer: fine
    # the same tokenizer named by its .model file (the directory's checksum covers all its files): the same vocabulary
    tok = Path(json.loads((data_dir / "manifest.json").read_text())["tokenizer"]["path"])
    model_file = next(tok.glob("*.model")) if tok.is_dir() else tok
    same = tmp_path / "same"
    shutil.copytree(data_dir, same)
    manifest = json.loads((same / "manifest.json").read_text())
    manifest["tokenizer"].update(path=str(model_file), sha256="1" * 64)
    (same / "manifest.json").write_text(json.dumps(manifest))
    Pretrainer(m, DataArgs(train_dir=str(data_dir), eval_dir=str(same)), o, t)


def test_a_resume_with_other_data_or_settings_is_refused_naming_them(tmp_path, data_dir, capsys):
    """Resuming used to go on silently with another train_dir (the saved data position applied to other data) or other
    model/optimizer settings, and overwrote config.yaml, the record of the first steps' settings."""
    out = tmp_path / "run"
    Pretrainer(*_args(data_dir, out, max_steps=2, save_every=2)).fit()
    config = (out / "config.yaml").read_text()
    other = tmp_path / "other"  # other data (here: another manifest) in another directory
    shutil.copytree(data_dir, other)
    manifest = json.loads((other / "manifest.json").read_text())
    (other / "manifest.json").write_text(json.dumps({**manifest, "totals": {**manifest["totals"], "instances": 1}}))

    def resume(data=None, optim=None, model=None, **train):
        m, d, o, t = _args(data_dir, out, **{"max_steps": 3, "resume": True, **train})
        return Pretrainer(model or m, data or d, optim or o, t)

    refusals = [({"data": DataArgs(train_dir=str(other))},
                 rf"training data: {data_dir} -> {other} \(other options, tokenizer ids, shards or totals"),
                ({"data": DataArgs(train_dir=str(data_dir), eval_holdout_shards=2)},
                 r"training shards \(data.eval_holdout_shards / data.eval_dir\): (\d+) -> (?!\1)\d+ of"),
                ({"optim": OptimConfig(lr=0.02, warmup_steps=1)}, r"optim.lr: 0.01 -> 0.02"),
                ({"optim": OptimConfig(name="adamw", lr=0.01, warmup_steps=1)}, r"optim.name: lamb -> adamw"),
                ({"model": ModelArgs(preset="tiny", overrides={**SMALL, "hidden_act": "relu"})},
                 r"model.overrides.hidden_act: None -> relu"),
                ({"global_batch_size": 32}, r"train.global_batch_size: 16 -> 32"),
                ({"seed": 4}, r"train.seed: 3 -> 4")]
    for kw, message in refusals:
        with pytest.raises(TrainingError, match=rf"step_00000002 was written by a run with other settings or data "
                                                rf"\(.*{message}.*\); resume with the same ones"):
            resume(**kw)
    assert (out / "config.yaml").read_text() == config
    # what may change: data that moved (same content), max_steps, micro_batch_size, intervals
    moved = tmp_path / "moved"  # and re-created: only the creation time and the tokenizer's path differ
    shutil.copytree(data_dir, moved)
    manifest = json.loads((moved / "manifest.json").read_text())
    manifest["creation"]["seconds"] += 1.5
    manifest["tokenizer"]["path"] = "/elsewhere/tok"
    (moved / "manifest.json").write_text(json.dumps(manifest))
    trainer = resume(data=DataArgs(train_dir=str(moved)), micro_batch_size=8, log_every=2)
    assert trainer.step == 2
    assert "resuming with changed settings: data.train_dir: " in capsys.readouterr().err
    assert trainer.fit()["step"] == 3
    # a checkpoint from before runs were recorded in train_state.pt: checked against config.yaml
    last = out / "checkpoints" / "step_00000003"
    state = torch.load(last / "train_state.pt", weights_only=True)
    del state["run"]
    torch.save(state, last / "train_state.pt")
    with pytest.raises(TrainingError, match=r"step_00000003 was written by .*optim.lr: 0.01 -> 0.02"):
        resume(optim=OptimConfig(lr=0.02, warmup_steps=1), max_steps=4)


def test_a_damaged_checkpoint_is_named_with_what_to_do(tmp_path, data_dir):
    out = tmp_path / "run"
    Pretrainer(*_args(data_dir, out, max_steps=2, save_every=1)).fit()
    last = out / "checkpoints" / "step_00000002"
    good = {f.name: f.read_bytes() for f in last.iterdir()}
    damages = [("train_state.pt", good["train_state.pt"][:300], r"train_state.pt: not readable \(RuntimeError: "),
               ("train_state.pt", b"not a checkpoint", r"train_state.pt: not readable \(UnpicklingError: "),
               ("rng_rank0.pt", good["rng_rank0.pt"][:100], r"rng_rank0.pt: not readable"),
               ("model.safetensors", good["model.safetensors"][:1000],
                r"model.safetensors: not a readable safetensors")]
    for name, data, message in damages:
        (last / name).write_bytes(data)
        with pytest.raises(TrainingError, match=rf"{message}.*; the checkpoint is damaged: delete {last} to resume "
                                                rf"from the one before it"):
            Pretrainer(*_args(data_dir, out, max_steps=3, resume=True))
        (last / name).write_bytes(good[name])
    torch.save({"step": 2}, last / "train_state.pt")
    with pytest.raises(TrainingError, match=r"train_state.pt: not a pretraining state"):
        Pretrainer(*_args(data_dir, out, max_steps=3, resume=True))
    shutil.rmtree(last)  # what the message says to do: resume from the one before
    assert Pretrainer(*_args(data_dir, out, max_steps=3, resume=True)).step == 1
