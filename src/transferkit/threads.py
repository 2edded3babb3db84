"""How many native threads (OpenBLAS, OpenMP) small numeric work gets.

Threaded BLAS and OpenMP pay off on big matrix products. On the small problems this library
solves over and over (a logistic regression on a few hundred or thousand feature rows, a t-SNE
of a few hundred points, the tridiagonal reduction of a 1,280 x 1,280 Gram matrix) their
threads mostly spin-wait on each other, and worse on the threads PyTorch's own OpenMP pool
leaves spinning after a forward pass, or on another process sharing the cores. Measured on 2
cores (EfficientNet-Lite0 features of Fashion-MNIST, the 11-value C sweep of the linear probe):
400 rows x 1,280 features 0.75 s with one thread against 29.5 s with two while another
process used both cores. ``native_threads`` gives such work one thread, and leaves bigger
work to the libraries' own choice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

#: Up to this many elements in the problem's main matrix (rows x columns), one native thread.
SMALL_WORK = 8_000_000


@contextlib.contextmanager
def native_threads(size: int | None = None) -> Iterator[None]:
    """Run the block with one BLAS / OpenMP thread when ``size`` (elements of the main matrix)
    is at most :data:`SMALL_WORK`, or always when ``size`` is None; otherwise unchanged.
    The previous limits are restored after the block."""
    if size is not None and size > SMALL_WORK:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield
