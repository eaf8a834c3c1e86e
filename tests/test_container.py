"""The .lcz container: round trips (torch state dict, numpy dict, safetensors), random access,
atomic writes, and every kind of damage raising a clear error."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import leanconv
from leanconv import _native
from leanconv.compress import LczFile, TensorNotFoundError, describe_container, load_tensor
from leanconv.compress import container as ctr


def small_state_dict() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.Conv2d(8, 4, 1), torch.nn.Flatten(),
        torch.nn.Linear(4, 3),
    )
    return net.state_dict()


def test_torch_state_dict_round_trip_lossless_and_quantized(tmp_path: Path) -> None:
    sd = small_state_dict()
    p = tmp_path / "m.lcz"
    leanconv.save(p, sd)  # lossless by default
    back = leanconv.load(p, format="torch")
    assert list(back) == list(sd)
    for k in sd:
        assert back[k].dtype == sd[k].dtype and torch.equal(back[k], sd[k]), k
    cm = leanconv.compress(sd, sparsity=0.5, bits=4)
    leanconv.save(p, cm)
    back = leanconv.load(p, format="torch")
    for k, t in cm.items():  # type: ignore[union-attr]
        if t.kind == "quantized":
            np.testing.assert_array_equal(back[k].numpy(), t.decompress())
            q = t.codes()
            assert np.count_nonzero(q) <= q.size - int(0.5 * q.size)
        else:
            assert torch.equal(back[k], sd[k])
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.Conv2d(8, 4, 1), torch.nn.Flatten(),
        torch.nn.Linear(4, 3),
    )
    net.load_state_dict(back)


def test_numpy_dict_and_safetensors_round_trip(tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    rng = np.random.default_rng(0)
    arrays = {
        "w": rng.normal(size=(16, 4, 3, 3)).astype(np.float32),
        "b": rng.normal(size=(16,)).astype(np.float64),
        "i": np.arange(10, dtype=np.int32),
        "h": rng.normal(size=(5, 5)).astype(np.float16),
        "scalar": np.array(3.5, np.float32),
        "empty": np.zeros((0, 3), np.float32),
        "codes": rng.integers(-8, 8, (6, 7)).astype(np.int8),
    }
    p = tmp_path / "a.lcz"
    leanconv.save(p, arrays)
    back = leanconv.load(p)
    for k, a in arrays.items():
        assert back[k].dtype == a.dtype and back[k].shape == a.shape
        np.testing.assert_array_equal(back[k], a)
    st = tmp_path / "a.safetensors"
    save_file({k: v for k, v in arrays.items()}, str(st))
    from leanconv.io.weights import read_weights, write_weights

    p2 = tmp_path / "b.lcz"
    leanconv.save(p2, read_weights(st))
    out = tmp_path / "b.safetensors"
    write_weights(out, leanconv.load(p2))
    again = load_file(str(out))
    for k, a in arrays.items():
        np.testing.assert_array_equal(again[k], a)


def test_random_access_and_missing_names(tmp_path: Path) -> None:
    p = tmp_path / "r.lcz"
    arrays = {f"t{i}": np.full((4, 4), i, np.float32) for i in range(8)}
    leanconv.save(p, arrays, bits=8)
    np.testing.assert_allclose(load_tensor(p, "t5"), arrays["t5"], rtol=1e-2)
    assert list(leanconv.load(p, names=["t2", "t7"])) == ["t2", "t7"]
    with pytest.raises(TensorNotFoundError, match="no tensor named 'nope'") as ei:
        load_tensor(p, "nope")
    assert isinstance(ei.value, KeyError) and isinstance(ei.value, leanconv.LeanconvError)
    rows = describe_container(p)
    assert [r["name"] for r in rows] == list(arrays)
    assert rows[0]["kind"] == "quantized" and rows[0]["bits"] == 8 and rows[0]["shape"] == (4, 4)
    with LczFile(p) as f:
        assert "t3" in f and len(f.names()) == 8
        # records are aligned in the payload
        for n in f.names():
            for r in f.entry(n)["records"].values():
                assert (f.payload_start + r["offset"]) % ctr.ALIGN == 0


def _small_container(tmp_path: Path) -> Path:
    p = tmp_path / "small.lcz"
    rng = np.random.default_rng(1)
    cm = leanconv.compress(
        {"conv": rng.normal(size=(4, 2, 3, 3)).astype(np.float32), "bias": np.arange(4, dtype=np.float32)},
        sparsity=0.5, bits=4,
    )
    leanconv.save(p, cm)
    return p


def test_every_single_bit_flip_is_detected(tmp_path: Path) -> None:
    p = _small_container(tmp_path)
    good = p.read_bytes()
    reference = leanconv.load(p)
    bad = tmp_path / "bad.lcz"
    assert len(good) < 4096
    for i in range(len(good) * 8):
        data = bytearray(good)
        data[i // 8] ^= 1 << (i % 8)
        bad.write_bytes(bytes(data))
        with pytest.raises(leanconv.CorruptFileError):
            leanconv.load(bad)
    assert all(np.array_equal(leanconv.load(p)[k], v) for k, v in reference.items())


def test_truncated_files_are_corrupt(tmp_path: Path) -> None:
    p = _small_container(tmp_path)
    good = p.read_bytes()
    bad = tmp_path / "t.lcz"
    for n in list(range(0, 40)) + list(range(40, len(good), 17)) + [len(good) - 1]:
        bad.write_bytes(good[:n])
        with pytest.raises(leanconv.CorruptFileError):
            leanconv.load(bad)
    bad.write_bytes(good + b"\0")
    with pytest.raises(leanconv.CorruptFileError, match="truncated or padded"):
        leanconv.load(bad)


def _rewrite_header(p: Path, out: Path, edit: object) -> None:
    data = p.read_bytes()
    _, version, hlen, _ = ctr.PREFIX.unpack_from(data, 0)
    header = json.loads(data[ctr.PREFIX.size : ctr.PREFIX.size + hlen])
    payload = data[ctr._align(ctr.PREFIX.size + hlen) :]
    edit(header)  # type: ignore[operator]
    hb = json.dumps(header).encode()
    pad = ctr._align(ctr.PREFIX.size + len(hb)) - ctr.PREFIX.size - len(hb)
    block = hb + b"\0" * pad
    out.write_bytes(ctr.PREFIX.pack(ctr.MAGIC, version, len(hb), _native.crc32(block)) + block + payload)


def test_wrong_magic_version_and_absurd_sizes(tmp_path: Path) -> None:
    p = _small_container(tmp_path)
    good = p.read_bytes()
    bad = tmp_path / "x.lcz"
    bad.write_bytes(b"PK\x03\x04" + good[4:])
    with pytest.raises(leanconv.CorruptFileError, match="magic"):
        leanconv.load(bad)
    bad.write_bytes(good[:8] + struct.pack("<I", 99) + good[12:])
    with pytest.raises(leanconv.CorruptFileError, match="version 99"):
        leanconv.load(bad)
    bad.write_bytes(good[:12] + struct.pack("<Q", 2**62) + good[20:])
    with pytest.raises(leanconv.CorruptFileError, match="header length"):
        leanconv.load(bad)

    # Headers with valid checksums that claim absurd things.
    def huge_shape(h: dict) -> None:  # type: ignore[type-arg]
        h["tensors"][0]["shape"] = [2**40, 2**20]

    def far_record(h: dict) -> None:  # type: ignore[type-arg]
        h["tensors"][0]["records"]["data"]["offset"] = 2**50

    def bad_dtype(h: dict) -> None:  # type: ignore[type-arg]
        h["tensors"][1]["dtype"] = "object"

    def neg_shape(h: dict) -> None:  # type: ignore[type-arg]
        h["tensors"][0]["shape"] = [-1, 4]

    def bad_codec(h: dict) -> None:  # type: ignore[type-arg]
        h["tensors"][0]["codec"] = "nonesuch"

    for edit, msg in ((huge_shape, "claims"), (far_record, "outside"), (bad_dtype, "dtype"),
                      (neg_shape, "non-negative"), (bad_codec, "unknown codec")):
        _rewrite_header(p, bad, edit)
        with pytest.raises(leanconv.CorruptFileError, match=msg):
            leanconv.load(bad)
    bad.write_bytes(b"")
    with pytest.raises(leanconv.CorruptFileError):
        leanconv.load(bad)
    with pytest.raises(leanconv.ModelNotFoundError):
        leanconv.load(tmp_path / "missing.lcz")


def test_writes_are_atomic(tmp_path: Path) -> None:
    p = _small_container(tmp_path)
    before = p.read_bytes()
    with pytest.raises(leanconv.LeanconvError):
        leanconv.save(p, {"a": np.zeros(3, np.float32), "b": np.array(["x"], dtype=object)})
    assert p.read_bytes() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["small.lcz"]


def test_near_empty_tensors_are_padded_to_the_plausibility_bound(tmp_path: Path) -> None:
    p = tmp_path / "z.lcz"
    leanconv.save(p, {"z": np.random.default_rng(0).normal(size=(256, 1024)).astype(np.float32)}, sparsity=1.0, bits=4)
    np.testing.assert_array_equal(leanconv.load(p)["z"], np.zeros((256, 1024), np.float32))
    with LczFile(p) as f:
        rec = f.entry("z")["records"]["data"]
        assert rec["used"] < 256 * 1024 // ctr.MAX_EXPANSION <= rec["nbytes"]


def test_kmeans_and_global_pruning_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    sd = {"a": rng.normal(size=(16, 8, 3, 3)).astype(np.float32),
          "b": rng.normal(scale=0.01, size=(32, 16)).astype(np.float32)}
    cm = leanconv.compress(sd, sparsity=0.5, bits=4, method="kmeans", prune="global")
    assert all(t.kind == "shared" for t in cm.values())  # type: ignore[union-attr]
    # one global threshold: the small-scale tensor loses (almost) everything
    assert np.count_nonzero(cm["b"].codes()) < 0.05 * sd["b"].size  # type: ignore[index]
    p = tmp_path / "k.lcz"
    leanconv.save(p, cm)
    back = leanconv.load(p)
    for k, t in cm.items():  # type: ignore[union-attr]
        np.testing.assert_array_equal(back[k], t.decompress())
        assert len(np.unique(back[k])) <= 16
    err = np.abs(back["a"] - sd["a"])[back["a"] != 0].mean()
    assert err < 0.25 * np.abs(sd["a"]).mean()


def test_damaged_payloads_with_valid_checksums_never_crash(tmp_path: Path) -> None:
    """A crafted file whose checksums match damaged codec data: decoders get garbage and must
    raise a LeanconvError or return arrays of the declared shapes, never crash."""
    rng = np.random.default_rng(7)
    src = tmp_path / "src.lcz"
    cm = leanconv.compress(
        {"c3": rng.normal(size=(8, 4, 3, 3)).astype(np.float32), "c1": rng.normal(size=(16, 8, 1, 1)).astype(np.float32),
         "fp": rng.normal(size=(10,)).astype(np.float32)},
        sparsity=0.5, bits=4,
    )
    leanconv.save(src, cm)
    data = src.read_bytes()
    _, version, hlen, _ = ctr.PREFIX.unpack_from(data, 0)
    header = json.loads(data[ctr.PREFIX.size : ctr.PREFIX.size + hlen])
    start = ctr._align(ctr.PREFIX.size + hlen)
    bad = tmp_path / "bad.lcz"
    outcomes = {"error": 0, "ok": 0}
    for trial in range(300):
        payload = bytearray(data[start:])
        t = header["tensors"][trial % len(header["tensors"])]
        rec = t["records"]["data"]
        off, used = rec["offset"], rec["used"]
        for _ in range(1 + trial % 4):
            payload[off + int(rng.integers(0, max(used, 1)))] = int(rng.integers(0, 256))
        if trial % 7 == 0:  # also cut the coded length short
            rec_used = int(rng.integers(0, max(used, 1)))
            payload[off + rec_used : off + rec["nbytes"]] = b"\0" * (rec["nbytes"] - rec_used)
        else:
            rec_used = used

        def fix(h: dict, t: dict = t, payload: bytearray = payload, rec_used: int = rec_used) -> None:  # type: ignore[type-arg]
            for x in h["tensors"]:
                if x["name"] == t["name"]:
                    r = x["records"]["data"]
                    r["used"] = rec_used
                    r["crc32"] = _native.crc32(bytes(payload[r["offset"] : r["offset"] + r["nbytes"]]))

        tmp = tmp_path / "tmp.lcz"
        tmp.write_bytes(data[:start] + bytes(payload))
        _rewrite_header(tmp, bad, fix)
        try:
            back = leanconv.load(bad)
        except leanconv.LeanconvError:
            outcomes["error"] += 1
            continue
        outcomes["ok"] += 1
        for x in header["tensors"]:
            assert back[x["name"]].shape == tuple(x["shape"])
    assert outcomes["error"] > 0


def test_raw_lossless_tensors_are_stored_as_they_are(tmp_path: Path) -> None:
    """The ``raw`` lossless codec: the tensor's little-endian bytes at a 64-byte aligned offset
    (readable in place), loaded back exactly; a record of the wrong length is corrupt."""
    from leanconv.compress.api import raw_tensor
    from leanconv.compress.container import LczFile, write_container

    a = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    b = np.arange(7, dtype=np.int16)
    path = tmp_path / "raw.lcz"
    write_container(path, [raw_tensor("a", a).entry(), raw_tensor("b", b).entry()])
    got = leanconv.load(path)
    assert got["a"].dtype == np.float32 and np.array_equal(got["a"], a)
    assert got["b"].dtype == np.int16 and np.array_equal(got["b"], b)
    with LczFile(path) as f:
        rec = f.entry("a")["records"]["data"]
        start = f.payload_start
    assert (start + rec["offset"]) % 64 == 0
    assert path.read_bytes()[start + rec["offset"]:][:a.nbytes] == a.tobytes()
    bad = raw_tensor("a", a)
    bad.shape = (3, 6)
    write_container(tmp_path / "bad.lcz", [bad.entry()])
    with pytest.raises(leanconv.CorruptFileError, match="stored bytes"):
        leanconv.load(tmp_path / "bad.lcz")
