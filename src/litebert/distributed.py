"""torchrun-based data parallelism: the only module that touches torch.distributed.

Launched with torchrun (RANK, WORLD_SIZE, LOCAL_RANK in the environment) it joins the process group (NCCL on GPUs,
gloo on CPU) through torchrun's rendezvous, so one node or many needs no code change. Launched plainly it is a world of
one and every collective is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


class DeviceError(ValueError):
    """A device setting that cannot work (a user error: one line, exit status 1)."""


def resolve_device(device: str = "auto") -> torch.device:
    """"auto" -> cuda when a GPU is visible, else cpu; anything else as given ("cpu", "cuda", "cuda:1")."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise DeviceError(f"--device {device!r}: not a torch device; expected auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"--device {device}: no CUDA GPU is visible to this torch {torch.__version__} "
                          f"(a CPU-only build, or no GPU); use --device cpu or auto")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise DeviceError(f"--device {device}: this machine has {torch.cuda.device_count()} visible GPU(s)")
    return dev


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group when torchrun started us; pick the device: cuda:LOCAL_RANK under torchrun, the GPU
    named (`cuda:1`) or the current one in a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    asked = resolve_device(device)
    use_cuda = asked.type == "cuda"
    if use_cuda and world > 1 and asked.index is not None and asked.index != local:
        raise DeviceError(f"--device {device}: under torchrun each process uses cuda:LOCAL_RANK (here cuda:{local}); "
                         f"pass --device cuda and choose GPUs with CUDA_VISIBLE_DEVICES")
    index = local if world > 1 or asked.index is None else asked.index
    dev = torch.device("cuda", index) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return DistInfo(rank, world, local, dev)


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """In-place sum over ranks (identity in a world of one). CPU tensors work under NCCL too: they make a round trip
    through the current GPU (NCCL reduces only CUDA tensors), which is what small metric tensors need."""
    if is_distributed():
        if t.device.type == "cpu" and dist.get_backend() == "nccl":
            on_gpu = t.to(torch.device("cuda", torch.cuda.current_device()))
            dist.all_reduce(on_gpu, op=dist.ReduceOp.SUM)
            t.copy_(on_gpu.cpu())
        else:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def wrap_model(model: torch.nn.Module, info: DistInfo) -> torch.nn.Module:
    """DistributedDataParallel when world_size > 1 (gradients averaged over ranks), the model itself otherwise."""
    if info.world_size == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, broadcast_buffers=False)


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
