"""Checks tdml checkpoints against PyTorch, then writes PyTorch checkpoints for tdml to read.

Run by tests/models/python_interop_test.cpp:  python_interop.py DIR MODEL
Reads (written by C++ with tdml::models::save_tensors):
  DIR/cpp_init.pt   state dict of make_model(MODEL) right after torch::manual_seed(SEED)
  DIR/cpp.pt        state dict after one train-mode forward (BatchNorm statistics moved)
  DIR/cpp_io.pt     {"seed": int64[], "input": x, "output": eval-mode model(x) in C++}
Checks: torch.load(weights_only=True) gives a dict; keys in PyTorch's order with the same
shapes and dtypes; strict load_state_dict; eval output == C++ output; the seeded PyTorch
model equals cpp_init.pt exactly (same default initialisation).
Writes: DIR/py.pt (model.state_dict(), an OrderedDict) and DIR/py_io.pt {"input", "output"}.
Exit status 0 when every check passed; failures are printed one a line.
"""
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "scripts"))
import tdml_models  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def check_cpp_files(d, name):
    sd = load(d / "cpp.pt")
    check(type(sd) is dict, f"cpp.pt loads as {type(sd).__name__}, expected dict")
    io = load(d / "cpp_io.pt")
    seed = int(io["seed"])

    torch.manual_seed(seed)
    model = tdml_models.make_model(name)
    ref = model.state_dict()
    check(list(sd.keys()) == list(ref.keys()),
          f"key order differs: C++ {list(sd.keys())[:4]}... vs PyTorch {list(ref.keys())[:4]}...")
    for k, v in ref.items():
        if k in sd:
            check(sd[k].shape == v.shape and sd[k].dtype == v.dtype,
                  f"{k}: C++ {tuple(sd[k].shape)} {sd[k].dtype}, PyTorch {tuple(v.shape)} {v.dtype}")

    init = load(d / "cpp_init.pt")
    differing = [k for k, v in ref.items() if k not in init or not torch.equal(init[k], v)]
    check(not differing, f"seeded initialisation differs from C++ in {len(differing)} tensors, "
          f"first {differing[:3]}")

    model.load_state_dict(sd, strict=True)
    model.eval()
    with torch.no_grad():
        out = model(io["input"])
    diff = (out - io["output"]).abs().max().item()
    scale = io["output"].abs().max().item()
    print(f"{name}: C++ checkpoint in PyTorch: max |diff| {diff:.3g} (max |logit| {scale:.3g})")
    check(diff <= 1e-4 * max(1.0, scale), f"forward output differs from C++ by {diff}")


def write_py_files(d, name):
    torch.manual_seed(1234)
    model = tdml_models.make_model(name)
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 3, 32, 32))  # moves BatchNorm statistics away from their init
    model.eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        y = model(x)
    torch.save(model.state_dict(), d / "py.pt")
    torch.save({"input": x, "output": y}, d / "py_io.pt")


def main():
    d, name = pathlib.Path(sys.argv[1]), sys.argv[2]
    torch.set_num_threads(1)
    check_cpp_files(d, name)
    write_py_files(d, name)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
