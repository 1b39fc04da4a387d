"""The PyTorch peer of Boft.Benchmarks (copied from the shared reference torch_adapter_bench.py, with full-layer timings added).
Adapter-only CPU timing in PyTorch (the peer a Python user would run): u = x @ R for BOFT/OFT,
applied structurally (no dense R; gather -> batched bxb matmul -> gather per factor), Cayley by
torch.linalg.solve, forward and forward+backward (grads to raw blocks and x). 2 threads, fp32.
Also the PEFT way (dense R from permutation-matrix products) for reference, and the full layer: nn.Linear alone
(frozen W0, grads to x) and nn.Linear plus the structured adapter and BOFT's scale s (y = ((x R) W0^T) * s + bias).
Time budget per number: BOFT_PEER_BUDGET seconds (default 1.5).
Usage: /usr/bin/python3 torch_peer.py D T M B [M B ...]  -> JSON lines on stdout."""
import os, sys, json, time, statistics
os.environ.setdefault("OMP_NUM_THREADS", "2"); os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch
import boft_ref as ref
torch.set_num_threads(2)
DT = torch.float32

def cayley(A):
    m, k, b, _ = A.shape
    S = 0.5 * (A - A.transpose(-1, -2))
    I = torch.eye(b, dtype=DT).expand(m * k, b, b)
    S = S.reshape(m * k, b, b)
    return torch.linalg.solve(I + S, I - S, left=False).reshape(m, k, b, b)

def rotate_structured(x, A, perms, iperms):
    C = cayley(A)
    m, k, b, _ = C.shape
    z = x
    for i in range(m - 1, -1, -1):
        w = z[:, iperms[i]] if i > 0 else z
        w = torch.bmm(w.reshape(-1, k, b).transpose(0, 1), C[i]).transpose(0, 1).reshape(z.shape)
        z = w[:, perms[i]] if i > 0 else w
    return z

def rotate_peft(x, A, P):
    C = cayley(A)
    m, k, b, _ = C.shape
    D = torch.stack([torch.block_diag(*C[i]) for i in range(m)])
    F = torch.bmm(torch.bmm(P, D), P.transpose(1, 2))
    R = F[0]
    for i in range(1, m):
        R = F[i] @ R
    return x @ R

BUDGET = float(os.environ.get("BOFT_PEER_BUDGET", "1.5"))

def timeit(fn, budget=None, min_runs=5):
    budget = BUDGET if budget is None else min(budget, BUDGET)
    fn()
    ts = []
    t_end = time.perf_counter() + budget
    while len(ts) < min_runs or time.perf_counter() < t_end:
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
        if len(ts) >= 200: break
    return statistics.median(ts) * 1e3

def main():
    d, T = int(sys.argv[1]), int(sys.argv[2])
    pairs = [(int(sys.argv[i]), int(sys.argv[i + 1])) for i in range(3, len(sys.argv), 2)]
    g = torch.Generator().manual_seed(0)
    for m, b in pairs:
        sh = ref.resolve_boft(d, block_size=b, n_butterfly_factor=m)
        perms = [p.clone() for p in ref.butterfly_perms(sh)]
        iperms = [ref.inverse_perm(p) for p in perms]
        A = (0.1 * torch.randn(m, sh.k, b, b, generator=g, dtype=DT)).requires_grad_()
        x = torch.randn(T, d, generator=g, dtype=DT).requires_grad_()
        G = torch.randn(T, d, generator=g, dtype=DT)
        def fwd():
            with torch.no_grad(): rotate_structured(x, A, perms, iperms)
        def fwdbwd():
            u = rotate_structured(x, A, perms, iperms)
            A.grad = None; x.grad = None
            u.backward(G)
        def cay():
            with torch.no_grad(): cayley(A)
        row = dict(peer="torch-structured", d=d, tokens=T, m=m, b=b,
                   cayley_ms=timeit(cay), forward_ms=timeit(fwd), forward_backward_ms=timeit(fwdbwd))
        W0 = torch.randn(d, d, generator=g, dtype=DT) / d ** 0.5
        bias = 0.1 * torch.randn(d, generator=g, dtype=DT)
        s = (1 + 0.1 * torch.randn(d, generator=g, dtype=DT)).requires_grad_()
        linear = torch.nn.Linear(d, d)
        with torch.no_grad():
            linear.weight.copy_(W0); linear.bias.copy_(bias)
        linear.weight.requires_grad_(False); linear.bias.requires_grad_(False)
        def lfwd():
            with torch.no_grad(): linear(x)
        def lfwdbwd():
            x.grad = None
            linear(x).backward(G)
        def afwd():
            with torch.no_grad(): linear(rotate_structured(x, A, perms, iperms)) * s
        def afwdbwd():
            A.grad = None; x.grad = None; s.grad = None
            (linear(rotate_structured(x, A, perms, iperms)) * s).backward(G)
        row.update(layer_frozen_forward_ms=timeit(lfwd), layer_frozen_forward_backward_ms=timeit(lfwdbwd),
                   layer_forward_ms=timeit(afwd), layer_forward_backward_ms=timeit(afwdbwd))
        if d <= 1024:
            P = torch.stack([ref.perm_matrix(p, DT) for p in perms])
            def pfwd():
                with torch.no_grad(): rotate_peft(x, A, P)
            row["peft_forward_ms"] = timeit(pfwd, budget=1.0, min_runs=3)
        print(json.dumps(row), flush=True)

main()
