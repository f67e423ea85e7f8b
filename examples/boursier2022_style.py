"""
Your own PyTorch run, Boursier et al. (2022) style: hidden bias, MSELoss, balanced init
=======================================================================================

A two-layer ReLU network written the way training code of Boursier, Pillaud-Vivien and
Flammarion (2022) writes it, ``nn.Sequential(nn.Linear(d, m), nn.ReLU(), nn.Linear(m, 1,
bias=False))`` with a hidden bias, ``nn.MSELoss()`` (the mean, twice the canonical loss) and a
balanced initialization at scale σ (``|a_j| = ||(w_j, b_j)||``), is trained by full-batch SGD on
inputs whose augmented rows ``(x_i, 1)`` are orthogonal. ``jumpprocess.from_torch`` imports
the network at its initialization (the bias becomes the input coordinate 1, the loss factor
c = 2 turns the step ``lr`` into the canonical ``η' = 2 lr``), and ``compare_log`` reads the
logged run against the σ→0 limit and the finite-σ run, in the run's own steps and losses.

    python examples/boursier2022_style.py [--sigma 1e-12] [--plot out.png]

σ stays at or above 1e-12: every augmented input ends in the same coordinate 1, so below that
float64 rounding re-activates coordinates the exact dynamics keeps frozen, and the real run
fits samples the limit never fits (``from_torch`` warns). Bias-free networks on coordinate
inputs (the Dana-style example) have no such floor.
"""

import argparse
import sys

import numpy as np
import torch
from torch import nn

import jumpprocess as jp
from jumpprocess.interop import bias_orthogonal_inputs
from jumpprocess.interop.logged_run import TrainingLog, compare_log


def make_data(n, d, seed):
    """Inputs with orthogonal (x_i, 1), augmented norms in [3, 4.5]; labels ±U(0.5, 1.5)."""
    rng = np.random.default_rng(seed)
    X = bias_orthogonal_inputs(rng.uniform(3.0, 4.5, n), d, rng)
    y = rng.choice([-1.0, 1.0], n) * rng.uniform(0.5, 1.5, n)
    return torch.tensor(X), torch.tensor(y).reshape(-1, 1)      # MSELoss wants (n, 1) labels


def make_network(d, m, sigma, seed):
    """Balanced init at scale σ: ``(w_j, b_j) ~ σ N(0, I/(d+1))``, ``a_j = ±||(w_j, b_j)||``."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(d, m), nn.ReLU(), nn.Linear(m, 1, bias=False)).double()
    with torch.no_grad():
        hidden = sigma * torch.randn(m, d + 1, dtype=torch.float64) / np.sqrt(d + 1)
        net[0].weight.copy_(hidden[:, :d])
        net[0].bias.copy_(hidden[:, d])
        signs = torch.where(torch.rand(m) < 0.5, -1.0, 1.0).double()
        net[2].weight.copy_((signs * hidden.norm(dim=1)).reshape(1, m))
    return net


def train(net, X, y, lr, steps):
    """The user's loop: full-batch SGD on MSELoss, logging the loss and outputs every step."""
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    criterion = nn.MSELoss()
    losses, outputs = [], []
    for _ in range(steps + 1):
        out = net(X)
        loss = criterion(out, y)
        losses.append(loss.item())
        outputs.append(out.detach().reshape(-1).numpy().copy())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return TrainingLog(losses, steps=np.arange(steps + 1), outputs=np.array(outputs))


def carriers(net, X):
    """Who fitted what in the trained network: ``argmax_j |a_j relu(<w_j, x_i> + b_j)|`` per sample."""
    with torch.no_grad():
        hidden = torch.relu(net[0](X))                          # (n, m)
        contributions = (hidden * net[2].weight.reshape(1, -1)).abs()
    return contributions.argmax(dim=1).numpy(), contributions.max(dim=1).values.numpy() > 0


def run(sigma=1e-12, n=8, d=10, m=6, lr=0.1, seed=0, steps=None, finite="auto", plot=None, verbose=True):
    """Train, import, predict and compare; returns ``(comparison, fitted sets of the trained network)``."""
    X, y = make_data(n, d, seed)
    net = make_network(d, m, sigma, seed + 1)
    imported = jp.from_torch(net, X, y, sigma=sigma, convention=jp.Convention("mean", hidden_bias=True), lr=lr)
    if steps is None:  # a budget from the data alone: the slowest single-sample rate |y_i| s_i / n
        rate = np.min(np.abs(imported.problem.signal)) / n
        steps = int(np.ceil(1.3 * np.log(1 / sigma) / (rate * imported.step_size)))
    log = train(net, X, y, lr, steps)
    result = compare_log(imported, log, finite=finite)

    # the trained network's own fitted sets, in the order its samples were half-fitted
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
    parser.add_argument("--sigma", type=float, default=1e-12, help="initialization scale (default 1e-12)")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--m", type=int, default=6)
    parser.add_argument("--lr", type=float, default=0.1, help="SGD learning rate (default 0.1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="PATH", help="save the comparison figure (PNG)")
    args = parser.parse_args(argv)
    run(args.sigma, args.n, max(args.n + 2, 10), args.m, args.lr, args.seed, plot=args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
