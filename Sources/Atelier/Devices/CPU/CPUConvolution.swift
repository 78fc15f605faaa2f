import CAtelier

/// The CPU path's convolutions: each core takes a contiguous share of the
/// batch and works through it a few samples at a time, with columns that fit
/// its L2 cache and a one-thread GEMM (Sources/CAtelier/cpu_conv.c). Same
/// layouts and results as the im2col composites in Ops/Convolution.swift,
/// which the tests compare it with.
final class CPUConvolution {
    /// Per-worker scratch, kept between calls so a training step allocates nothing.
    private var scratch: [UnsafeMutablePointer<Float>] = []
    private var scratchCapacity = 0

    /// Bytes of columns and GEMM operands one chunk may use. About a core's
    /// L2: on the 1 MB-L2 machine measured, 1 and 2 MB were equally fast,
    /// 256 and 512 KB slower (the GEMMs get too thin), whole-batch columns
    /// 25 % slower (docs/benchmarks.md).
    static let defaultChunkBytes = 1 << 20
    let chunkBytes: Int

    init(chunkBytes: Int) {
        self.chunkBytes = chunkBytes
    }

    deinit {
        for s in scratch { s.deallocate() }
    }

    /// Samples per chunk: as many as fit `chunkBytes`, at least one.
    func chunkSamples(_ g: ConvGeometry) -> Int {
        let perSample = (g.columnRows + g.outChannels) * g.outHeight * g.outWidth * MemoryLayout<Float>.size
        return max(1, min(g.batch, chunkBytes / perSample))
    }

    func forward(_ g: ConvGeometry, x: UnsafeMutablePointer<Float>, w: UnsafeMutablePointer<Float>,
                 y: UnsafeMutablePointer<Float>) {
        nonisolated(unsafe) let (x, w, y) = (x, w, y)
        run(g) { conv, n0, n1, chunk, scratch, _ in
            atelier_conv_forward(conv, Int32(g.outChannels), x, w, y, n0, n1, chunk, scratch)
        }
    }

    func backwardData(_ g: ConvGeometry, dy: UnsafeMutablePointer<Float>, w: UnsafeMutablePointer<Float>,
                      dx: UnsafeMutablePointer<Float>) {
        nonisolated(unsafe) let (dy, w, dx) = (dy, w, dx)
        run(g) { conv, n0, n1, chunk, scratch, _ in
            atelier_conv_backward_data(conv, Int32(g.outChannels), dy, w, dx, n0, n1, chunk, scratch)
        }
    }

    /// Worker 0 accumulates into dw itself, the others into the end of their
    /// scratch; those partial sums are then added in worker order, so the
    /// result does not depend on timing.
    func backwardWeights(_ g: ConvGeometry, x: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         dw: UnsafeMutablePointer<Float>, accumulate: Bool) {
        nonisolated(unsafe) let (x, dy, dw) = (x, dy, dw)
        let partialOffset = (g.columnRows + g.outChannels) * chunkSamples(g) * g.outHeight * g.outWidth
        let workers = run(g) { conv, n0, n1, chunk, scratch, worker in
            atelier_conv_backward_weights(conv, Int32(g.outChannels), x, dy, worker == 0 ? dw : scratch + partialOffset,
                                          worker == 0 && accumulate ? 1 : 0, n0, n1, chunk, scratch)
        }
        for worker in 1..<workers {
            atelier_add(g.weightCount, scratch[worker] + partialOffset, dw)
        }
    }

    /// Splits the batch into one contiguous share per worker and calls
    /// `body(geometry, first, end, chunk, scratch, worker)` for each.
    @discardableResult
    private func run(_ g: ConvGeometry,
                     _ body: (UnsafePointer<AtelierConv>, Int32, Int32, Int32, UnsafeMutablePointer<Float>, Int) -> Void) -> Int {
        let workers = min(Parallel.cores, g.batch)
        let chunk = chunkSamples(g)
        var conv = CPULayout.geometry(g)
        reserve(workers: workers, floats: withUnsafePointer(to: &conv) { Int(atelier_conv_scratch($0, Int32(g.outChannels), Int32(chunk))) })
        nonisolated(unsafe) let scratch = scratch
        withUnsafePointer(to: &conv) { conv in
            nonisolated(unsafe) let conv = conv
            Parallel.forEachWorker(workers) { worker in
                let first = g.batch * worker / workers, end = g.batch * (worker + 1) / workers
                body(conv, Int32(first), Int32(end), Int32(chunk), scratch[worker], worker)
            }
        }
        return workers
    }

    private func reserve(workers: Int, floats: Int) {
        if scratch.count >= workers, scratchCapacity >= floats { return }
        for s in scratch { s.deallocate() }
        scratchCapacity = max(scratchCapacity, floats)
        scratch = (0..<max(workers, scratch.count)).map { _ in
            UnsafeMutablePointer<Float>.allocate(capacity: scratchCapacity)
        }
    }
}
