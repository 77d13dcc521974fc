"""The int8 × int16 matrix-vector kernel behind :class:`~smplpix_rt.body.kernels.PairedInt8Matrix`.

Imported only when that matrix is used: it imports Numba and emits x86 AVX2 code. One
``vpmaddwd`` instruction multiplies 16 entries (two matrix rows of 8 columns, interleaved, widened
from int8 to int16) by the two int16 inputs of those rows and adds each pair into one of 8 int32
accumulators. Numba's loop vectoriser does not find that instruction by itself (it widens to
32-bit multiplies, which made the kernel no faster than the int16 one), so :func:`_pair_madd`
writes it as an LLVM intrinsic. Integer sums are exact, so the only rounding is the quantization
of the inputs. The kernel does no bounds checks: a column block's width must be a multiple of
:data:`LANES` (``kernels.BLOCK`` is 128).
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

#: Columns one :func:`_pair_madd` call updates.
LANES = 16


@intrinsic
def _pair_madd(typingctx, acc, acc_start, pairs, pairs_start, inputs):
    """``acc[acc_start + c] += pairs[s + 2c] * x0 + pairs[s + 2c + 1] * x1`` for c < 16, s = pairs_start.

    ``acc``: int32 array; ``pairs``: int8 array; ``inputs``: the two int16 inputs (x0, x1) packed
    into one int32 (x0 in the low half).
    """
    sig = types.void(acc, acc_start, pairs, pairs_start, inputs)

    def codegen(context, builder, signature, args):
        i8, i16, i32 = ir.IntType(8), ir.IntType(16), ir.IntType(32)
        acc_array = context.make_array(signature.args[0])(context, builder, args[0])
        pairs_array = context.make_array(signature.args[2])(context, builder, args[2])
        source = builder.bitcast(builder.gep(pairs_array.data, [args[3]]), ir.VectorType(i8, 2 * LANES).as_pointer())
        entries = builder.sext(builder.load(source, align=1), ir.VectorType(i16, 2 * LANES))
        packed = builder.trunc(args[4], i32) if args[4].type != i32 else args[4]
        half = LANES // 2
        broadcast = builder.insert_element(ir.Constant(ir.VectorType(i32, half), None), packed, ir.Constant(i32, 0))
        broadcast = builder.shuffle_vector(broadcast, broadcast, ir.Constant(ir.VectorType(i32, half), [0] * half))
        x = builder.bitcast(broadcast, ir.VectorType(i16, LANES))  # x0, x1, x0, x1, ...
        pmaddwd = builder.module.declare_intrinsic(
            "llvm.x86.avx2.pmadd.wd",
            (),
            ir.FunctionType(ir.VectorType(i32, half), [ir.VectorType(i16, LANES), ir.VectorType(i16, LANES)]),
        )

        def columns(first: int):
            select = ir.Constant(ir.VectorType(i32, LANES), list(range(first, first + LANES)))
            part = builder.shuffle_vector(entries, entries, select)
            return builder.call(pmaddwd, [part, x])

        low, high = columns(0), columns(LANES)
        sums = builder.shuffle_vector(low, high, ir.Constant(ir.VectorType(i32, LANES), list(range(LANES))))
        target = builder.bitcast(builder.gep(acc_array.data, [args[1]]), ir.VectorType(i32, LANES).as_pointer())
        builder.store(builder.add(builder.load(target, align=4), sums), target, align=4)
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(nogil=True, cache=True)
def paired_matvec(inputs, pairs, blocks, scales, input_scale, out):  # pragma: no cover - compiled by Numba
    """``out = input_scale * scales * (x_quantized @ M_int8)`` over the row pairs listed in ``pairs``.

    Args:
        inputs: (P,) int32, the two int16 inputs of each listed row pair packed (see :func:`_pair_madd`).
        pairs: (P,) int64 row-pair indices.
        blocks: (n_blocks, K_pad / 2, 2 * width) int8: per column block, each row pair's entries
            interleaved column by column.
        scales: (n_blocks * width,) float32 per-column scales.
        input_scale: float32 scale of the quantized inputs.
        out: (n_blocks * width,) float32 result.
    """
    n_blocks, _, row = blocks.shape
    width = row // 2
    acc = np.empty(width, np.int32)
    for b in range(n_blocks):
        acc[:] = 0
        block = blocks[b].reshape(-1)
        for k in range(pairs.shape[0]):
            x = inputs[k]
            start = pairs[k] * row
            for c in range(0, width, LANES):
                _pair_madd(acc, c, block, start + 2 * c, x)
        base = b * width
        for c in range(width):
            out[base + c] = np.float32(acc[c]) * (scales[base + c] * input_scale)
