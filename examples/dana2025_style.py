"""
Your own PyTorch run, Dana et al. (2025) style: output 1/p, loss p·mean/2, ``|a_j| = ||w_j|| + Exp(1)``
=======================================================================================================

A two-layer ReLU network in the convention of Dana, Bach and Pillaud-Vivien (2025): ``p``
neurons, output ``f(x) = (1/p) Σ_j a_j relu(<w_j, x>)``, loss ``p · mean((f − y)²) / 2`` and an
output-dominated initialization at scale σ (``|a_j| = ||w_j|| + Exp(1)``, in units of σ),
written as a custom ``nn.Module`` and trained by full-batch SGD on orthogonal inputs.
``jumpprocess.from_torch`` imports it with ``Convention(loss=p, output_scale="1/m")``: the
canonical parameters are ``θ/√p``, and since ``c κ = p · (1/p) = 1`` one user step is one
canonical step of the same size. ``compare_log`` then reads the logged run against the σ→0
limit and the finite-σ run, in the run's own steps and losses.

    python examples/dana2025_style.py [--sigma 1e-30] [--plot out.png]
"""

import argparse
import sys

import numpy as np
import torch
from torch import nn

import jumpprocess as jp
from jumpprocess.finite.reference import coordinate_inputs
from jumpprocess.interop.logged_run import TrainingLog, compare_log


class MeanFieldNet(nn.Module):
    """``f(x) = (1/p) Σ_j a_j relu(<w_j, x>)``."""

    def __init__(self, d, p):
        super().__init__()
        self.p = p
        self.hidden = nn.Linear(d, p, bias=False)
        self.output = nn.Linear(p, 1, bias=False)

    def forward(self, x):
        return self.output(torch.relu(self.hidden(x))) / self.p


def make_data(n, d, seed):
    """Exactly orthogonal inputs (signed, scaled basis vectors; norms in [0.5, 2]); labels ±U(0.5, 1.5)."""
    rng = np.random.default_rng(seed)
    X = coordinate_inputs(rng.uniform(0.5, 2.0, n), d, rng)
    y = rng.choice([-1.0, 1.0], n) * rng.uniform(0.5, 1.5, n)
    return torch.tensor(X), torch.tensor(y)


def make_network(d, p, sigma, seed):
    """``w_j = σ g_j / √d``, ``a_j = ±σ (||g_j/√d|| + Exp(1))``."""
    torch.manual_seed(seed)
    net = MeanFieldNet(d, p).double()
    with torch.no_grad():
        w = torch.randn(p, d, dtype=torch.float64) / np.sqrt(d)
        signs = torch.where(torch.rand(p) < 0.5, -1.0, 1.0).double()
        a = signs * (w.norm(dim=1) + torch.empty(p, dtype=torch.float64).exponential_(1.0))
        net.hidden.weight.copy_(sigma * w)
        net.output.weight.copy_(sigma * a.reshape(1, p))
    return net


def train(net, X, y, lr, steps):
    """The user's loop: full-batch SGD on p · mean(r²) / 2, logging the loss and outputs every step."""
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    losses, outputs = [], []
    for _ in range(steps + 1):
        out = net(X).reshape(-1)
        loss = net.p * ((out - y) ** 2).mean() / 2
        losses.append(loss.item())
        outputs.append(out.detach().numpy().copy())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return TrainingLog(losses, steps=np.arange(steps + 1), outputs=np.array(outputs))


def carriers(net, X):
    """Who fitted what in the trained network: ``argmax_j |a_j relu(<w_j, x_i>)|`` per sample."""
    with torch.no_grad():
        contributions = (torch.relu(net.hidden(X)) * net.output.weight.reshape(1, -1)).abs()
    return contributions.argmax(dim=1).numpy(), contributions.max(dim=1).values.numpy() > 0


def run(sigma=1e-30, n=10, d=12, p=8, lr=0.5, seed=0, steps=None, finite="auto", plot=None, verbose=True):
    """Train, import, predict and compare; returns ``(comparison, fitted sets of the trained network)``."""
    X, y = make_data(n, d, seed)
    net = make_network(d, p, sigma, seed + 1)
    imported = jp.from_torch(net, X, y, sigma=sigma, convention=jp.Convention(loss=p, output_scale="1/m"), lr=lr)
    if steps is None:  # a budget from the data alone: the slowest single-sample rate |y_i| s_i / n
        rate = np.min(np.abs(imported.problem.signal)) / n
        steps = int(np.ceil(1.3 * np.log(1 / sigma) / (rate * imported.step_size)))
    log = train(net, X, y, lr, steps)
    result = compare_log(imported, log, finite=finite)

    owner, active = carriers(net, X)
    half = result.observed_half_fit
    network_sets = []
    for j in sorted(set(owner[np.isfinite(half) & active]), key=lambda j: np.nanmin(half[owner == j])):
        network_sets.append((int(j), np.flatnonzero((owner == j) & np.isfinite(half)).tolist()))
    if verbose:
        print(imported.summary())
        print(f"trained {steps} steps; limit status: {result.limit.status}\n")
        print(result.table())
        print("\nfitted sets, in order:")
        print("  limit:  ", [(int(k), f.tolist()) for k, f in zip(result.limit.neurons, result.limit.fitted)])
        print("  network:", network_sets)
        print(f"\n{result.verdict}")
    if plot:
        result.plot(plot)
        if verbose:
            print(f"wrote {plot}")
    return result, network_sets


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--sigma", type=float, default=1e-30, help="initialization scale (default 1e-30)")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--p", type=int, default=8, help="number of neurons p")
    parser.add_argument("--lr", type=float, default=0.5, help="SGD learning rate (default 0.5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="PATH", help="save the comparison figure (PNG)")
    args = parser.parse_args(argv)
    run(args.sigma, args.n, args.n + 2, args.p, args.lr, args.seed, plot=args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
