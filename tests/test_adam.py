"""sape_geo's Adam: torch's update without torch's compiler import."""

import subprocess
import sys

import torch
from conftest import TINY_ARGS

from sape_geo.adam import Adam


def test_adam_follows_torch_adam_step_for_step():
    torch.manual_seed(0)
    ours, theirs = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    theirs.load_state_dict(ours.state_dict())
    mine = Adam([{"params": ours.parameters(), "lr": 1e-2}])
    reference = torch.optim.Adam([{"params": theirs.parameters(), "lr": 1e-2}])
    data = torch.randn(16, 4)
    for step in range(30):
        for group in (*mine.param_groups, *reference.param_groups):
            group["lr"] = 1e-2 * (1.0 - step / 40)  # the loop changes the rate between steps
        for model, optimiser in ((ours, mine), (theirs, reference)):
            optimiser.zero_grad(set_to_none=True)
            (model(data) ** 2).sum().backward()
            optimiser.step()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(ours.weight, torch.nn.Linear(4, 3).weight)


def test_a_fit_does_not_import_the_compiler(tmp_path):
    # importing torch._dynamo costs seconds of start-up (and a Ctrl-C inside that import once broke exit code 130)
    arguments = ["fit1d", *TINY_ARGS["fit1d"], "--quiet", "--out", str(tmp_path / "run")]
    code = (f"import sys; from sape_geo_apps.cli import main\ntry: main({arguments!r})\nexcept SystemExit: pass\n"
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"
