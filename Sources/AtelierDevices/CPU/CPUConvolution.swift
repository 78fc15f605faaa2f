import CAtelier

/// The CPU path's convolutions: each core takes a contiguous share of the
/// batch and works through it a few samples at a time, with columns that fit
/// its L2 cache and a one-thread GEMM (Sources/CAtelier/cpu_conv*.c); the
/// forward pass and the weight gradient of a one-channel image run directly
/// instead (cpu_conv_single.c), and all three passes of a 4x4 kernel at
/// stride 2 by Winograd's F(2x2, 2x2) (cpu_conv_winograd.c). Same results
/// as the im2col composites in Primitives/Convolution.swift, which the tests
/// compare it with (Winograd's within a float sum's rounding).
final class CPUConvolution {
    /// How the image operand of the GEMMs is laid out; chosen per layer.
    enum Algorithm: Sendable, CaseIterable {
        /// Rows (c, r, s), columns (n, p, q): built by strided gathers, one
        /// element at a time. Best with few input channels.
        case channelMajor
        /// Rows (n, p, q), columns (r, s, c): contiguous runs of C floats.
        case pixelMajor
        /// No columns: a GEMM of our own reads the runs of C floats in place
        /// through a table of pointers and packs only the weights
        /// (cpu_conv_indirect.c). Its register tiles are sized for AVX-512.
        case indirect

        /// Pixel-major once a tap is long enough to copy as a run (default
        /// 8 channels, half a vector; CPUTuning), measured on DCGAN's
        /// 64-channel layers: 4x less time outside the GEMM. Indirect
        /// instead where the tuning allows it (by default on AVX-512 CPUs):
        /// no columns to build and no BLAS packing.
        static func choose(for g: ConvGeometry, minChannels: Int, indirect: Bool) -> Algorithm {
            g.inChannels < minChannels ? .channelMajor : indirect ? .indirect : .pixelMajor
        }
    }

    /// Bytes of columns and GEMM operands one chunk may use (CPUTuning): by
    /// default about two of the measured machine's 1 MB L2 (at DCGAN's
    /// 64-channel layers: 392 pixels, 10 % faster than 1 MB at batch 256 and
    /// as fast at 64; 512 KB is slower, the GEMMs get too thin; whole-batch
    /// columns 25 % slower).
    static let defaultChunkBytes = CPUTuning.defaults.convolutionChunkBytes
    let chunkBytes: Int
    let pixelMajorMinChannels: Int
    let indirect: Bool
    /// Forces one algorithm for every layer (tests); nil chooses per layer.
    let forcedAlgorithm: Algorithm?
    /// Forward passes and weight gradients over one input channel run
    /// directly (cpu_conv_single.c) instead of through columns; off in tests
    /// that check the column paths on such layers.
    let singleChannelDirect: Bool
    /// The three passes of 4x4 kernels at stride 2 run by Winograd's
    /// F(2x2, 2x2) (CPUTuning.winogradConvolutions) where `winogradApplies`.
    let winograd: Bool

    /// Per-worker scratch and the permuted weights (with room for the
    /// intermediate step of the permutation), kept between calls so a
    /// training step allocates nothing.
    private var scratch: [UnsafeMutablePointer<Float>] = []
    private var scratchCapacity = 0
    private var weights = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var weightsCapacity = 1
    /// Layers with a few output pixels and large weights (CPUNarrowConvolution).
    private let narrow = CPUNarrowConvolution()
    /// Read by the indirect algorithm for taps in the padding; only ever zero.
    private var zeros = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var zerosCapacity = 0

    init(tuning: CPUTuning, algorithm: Algorithm? = nil, singleChannelDirect: Bool = true) {
        chunkBytes = tuning.convolutionChunkBytes
        pixelMajorMinChannels = tuning.pixelMajorMinChannels
        indirect = tuning.indirectConvolutions
        forcedAlgorithm = algorithm
        self.singleChannelDirect = singleChannelDirect
        winograd = tuning.winogradConvolutions
    }

    deinit {
        for s in scratch { s.deallocate() }
        weights.deallocate()
        zeros.deallocate()
    }

    func algorithm(for g: ConvGeometry) -> Algorithm {
        forcedAlgorithm ?? Algorithm.choose(for: g, minChannels: pixelMajorMinChannels, indirect: indirect)
    }

    /// Samples per chunk: as many as fit `chunkBytes`, at least one. For the
    /// indirect algorithm a sample's share is what it touches instead of
    /// columns: its image (read in place), its output and its pointer table.
    func chunkSamples(_ g: ConvGeometry) -> Int {
        let pixels = g.outHeight * g.outWidth
        let perSample = algorithm(for: g) == .indirect
            ? g.inChannels * g.height * g.width + pixels * (g.outChannels + 2 * g.kernelHeight * g.kernelWidth)
            : (g.columnRows + g.outChannels) * pixels
        return max(1, min(g.batch, chunkBytes / (perSample * MemoryLayout<Float>.size)))
    }

    /// Whether the passes of `g` run by Winograd:
    /// a 4x4 kernel at stride 2 with at least 16 channels on either side
    /// (fewer would leave the GEMMs' depth or width, whole 16-float
    /// vectors, mostly padding).
    func winogradApplies(_ g: ConvGeometry) -> Bool {
        var conv = CPULayout.geometry(g)
        return winograd && forcedAlgorithm == nil && !narrowApplies(g) && min(g.inChannels, g.outChannels) >= 16
            && atelier_conv_winograd_supported(&conv) != 0
    }

    /// Whether `g` runs on the narrow path (not when a test forces an algorithm).
    func narrowApplies(_ g: ConvGeometry) -> Bool {
        forcedAlgorithm == nil && CPUNarrowConvolution.applies(g)
    }

    /// Floating-point operations `pass` of `g` performs: the direct
    /// algorithm's (g.flops), or the Winograd GEMMs' where they run.
    func performedFlops(_ g: ConvGeometry, pass: ConvPass) -> Double {
        guard winogradApplies(g) else { return g.flops }
        var conv = CPULayout.geometry(g)
        let code = switch pass {
        case .forward: ATELIER_CONV_FORWARD
        case .backwardData: ATELIER_CONV_BACKWARD_DATA
        case .backwardWeights: ATELIER_CONV_BACKWARD_WEIGHTS
        }
        return 2 * atelier_conv_winograd_multiply_adds(&conv, Int32(g.outChannels), Int32(code))
    }

    /// Each worker applies the epilogue to its samples right after computing them.
    func forward(_ g: ConvGeometry, x: UnsafeMutablePointer<Float>, w: UnsafeMutablePointer<Float>,
                 y: UnsafeMutablePointer<Float>, epilogue: CPUEpilogue = .none) {
        if narrowApplies(g) { return narrow.forward(g, x: x, w: w, y: y, epilogue: epilogue) }
        nonisolated(unsafe) let (x, y) = (x, y)
        let k = Int32(g.outChannels), e = epilogue
        if singleChannelDirect && g.inChannels == 1 {
            nonisolated(unsafe) let w = w
            var conv = CPULayout.geometry(g)
            run(g, scratchFloats: Int(atelier_conv_single_scratch(&conv))) { conv, n0, n1, _, scratch, _ in
                atelier_conv_single_forward(conv, k, x, w, y, n0, n1, scratch, e.bias, e.activation, e.parameter, e.activated)
            }
            return
        }
        if winogradApplies(g) {
            nonisolated(unsafe) let packed = winogradWeights(g, w, pass: ATELIER_CONV_FORWARD)
            run(g, winogradPass: ATELIER_CONV_FORWARD) { conv, n0, n1, chunk, scratch, _ in
                atelier_conv_winograd_forward(conv, k, x, packed, y, n0, n1, chunk, scratch, e.bias, e.activation, e.parameter, e.activated)
            }
            return
        }
        switch algorithm(for: g) {
        case .channelMajor:
            nonisolated(unsafe) let w = w
            run(g, .channelMajor) { conv, n0, n1, chunk, scratch, _ in
                atelier_conv_forward(conv, k, x, w, y, n0, n1, chunk, scratch, e.bias, e.activation, e.parameter, e.activated)
            }
        case .pixelMajor:
            nonisolated(unsafe) let wt = permutedWeights(g, w, tapsMajor: true)
            run(g, .pixelMajor) { conv, n0, n1, chunk, scratch, _ in
                atelier_conv_pixels_forward(conv, k, x, wt, y, n0, n1, chunk, scratch, e.bias, e.activation, e.parameter, e.activated)
            }
        case .indirect:
            nonisolated(unsafe) let (packed, zeros) = (packedWeights(g, w, pass: ATELIER_CONV_FORWARD), zeroRegion(g))
            run(g, indirectPass: ATELIER_CONV_FORWARD) { conv, n0, n1, chunk, scratch, _ in
                atelier_conv_indirect_forward(conv, k, x, packed, y, n0, n1, chunk, scratch, zeros, e.bias, e.activation, e.parameter, e.activated)
            }
        }
    }

    func backwardData(_ g: ConvGeometry, dy: UnsafeMutablePointer<Float>, w: UnsafeMutablePointer<Float>,
                      dx: UnsafeMutablePointer<Float>, epilogue: CPUEpilogue = .none) {
        if narrowApplies(g) { return narrow.backwardData(g, dy: dy, w: w, dx: dx, epilogue: epilogue) }
        nonisolated(unsafe) let (dy, dx) = (dy, dx)
        let k = Int32(g.outChannels), e = epilogue
        if winogradApplies(g) {
            nonisolated(unsafe) let packed = winogradWeights(g, w, pass: ATELIER_CONV_BACKWARD_DATA)
            run(g, winogradPass: ATELIER_CONV_BACKWARD_DATA) { conv, n0, n1, chunk, scratch, _ in
                atelier_conv_winograd_backward_data(conv, k, dy, packed, dx, n0, n1, chunk, scratch, e.bias, e.activation, e.parameter, e.activated)
            }
            return
        }
        switch algorithm(for: g) {
        case .channelMajor:
            nonisolated(unsafe) let w = w
            run(g, .channelMajor) { conv, n0, n1, chunk, scratch, _ in
                atelier_conv_backward_data(conv, k, dy, w, dx, n0, n1, chunk, scratch, e.bias, e.activation, e.parameter, e.activated)
            }
        case .pixelMajor:
            nonisolated(unsafe) let wp = permutedWeights(g, w, tapsMajor: false)
            run(g, .pixelMajor) { conv, n0, n1, chunk, scratch, _ in
                atelier_conv_pixels_backward_data(conv, k, dy, wp, dx, n0, n1, chunk, scratch, e.bias, e.activation, e.parameter, e.activated)
            }
        case .indirect:
            nonisolated(unsafe) let (packed, zeros) = (packedWeights(g, w, pass: ATELIER_CONV_BACKWARD_DATA), zeroRegion(g))
            run(g, indirectPass: ATELIER_CONV_BACKWARD_DATA) { conv, n0, n1, chunk, scratch, _ in
                atelier_conv_indirect_backward_data(conv, k, dy, packed, dx, n0, n1, chunk, scratch, zeros, e.bias, e.activation, e.parameter, e.activated)
            }
        }
    }

    /// Each worker sums its samples' gradient in its own place (worker 0 of
    /// the channel-major version straight into dw); the partial sums are
    /// then added in worker order, so the result does not depend on timing.
    func backwardWeights(_ g: ConvGeometry, x: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         dw: UnsafeMutablePointer<Float>, accumulate: Bool) {
        if narrowApplies(g) { return narrow.backwardWeights(g, x: x, dy: dy, dw: dw, accumulate: accumulate) }
        nonisolated(unsafe) let (x, dy, dw) = (x, dy, dw)
        let k = Int32(g.outChannels)
        var conv = CPULayout.geometry(g)
        let chunk = Int32(chunkSamples(g))
        if singleChannelDirect && g.inChannels == 1 {
            let partial = Int(atelier_conv_single_gradient_scratch(&conv, k))
            let workers = run(g, scratchFloats: partial + g.weightCount, sharing: false) { conv, n0, n1, _, scratch, worker in
                atelier_conv_single_backward_weights(conv, k, x, dy, worker == 0 ? dw : scratch + partial,
                                                     worker == 0 && accumulate ? 1 : 0, n0, n1, scratch)
            }
            combine(g, workers: workers, partial: partial, into: dw)
            return
        }
        if winogradApplies(g) {
            let partial = Int(atelier_conv_winograd_weight_offset(&conv, k, chunk))
            let workers = run(g, winogradPass: ATELIER_CONV_BACKWARD_WEIGHTS, sharing: false) { conv, n0, n1, chunk, scratch, _ in
                atelier_conv_winograd_backward_weights(conv, k, x, dy, n0, n1, chunk, scratch)
            }
            nonisolated(unsafe) let sums = scratch[0] + partial
            combine(rows: Int(atelier_conv_winograd_weight_rows(&conv)), rowFloats: (g.outChannels + 15) / 16 * 16,
                    workers: workers, partial: partial, into: sums)
            let beta: Float = accumulate ? 1 : 0
            withUnsafePointer(to: &conv) { conv in
                nonisolated(unsafe) let conv = conv
                Parallel.forEachSlice(g.inChannels, minimumSlice: max(1, (1 << 14) / (g.outChannels * 16))) { channels in
                    atelier_conv_winograd_finish_weights(conv, k, sums, dw, beta, channels.lowerBound, channels.upperBound)
                }
            }
            return
        }
        switch algorithm(for: g) {
        case .channelMajor:
            let partial = (g.columnRows + g.outChannels) * Int(chunk) * g.outHeight * g.outWidth
            let workers = run(g, .channelMajor, sharing: false) { conv, n0, n1, chunk, scratch, worker in
                atelier_conv_backward_weights(conv, k, x, dy, worker == 0 ? dw : scratch + partial,
                                              worker == 0 && accumulate ? 1 : 0, n0, n1, chunk, scratch)
            }
            combine(g, workers: workers, partial: partial, into: dw)
        case .pixelMajor:
            let partial = Int(atelier_conv_pixels_weight_offset(&conv, k, chunk))
            let workers = run(g, .pixelMajor, sharing: false) { conv, n0, n1, chunk, scratch, _ in
                atelier_conv_pixels_backward_weights(conv, k, x, dy, n0, n1, chunk, scratch)
            }
            nonisolated(unsafe) let dwp = scratch[0] + partial
            let beta: Float = accumulate ? 1 : 0
            withUnsafePointer(to: &conv) { conv in
                nonisolated(unsafe) let conv = conv
                combine(g, workers: workers, partial: partial, into: dwp) { channels in
                    atelier_conv_pixels_finish_weights(conv, dwp, dw, beta, Int32(channels.lowerBound), Int32(channels.upperBound))
                }
            }
        case .indirect:
            let partial = Int(atelier_conv_indirect_weight_offset(&conv, k, chunk))
            nonisolated(unsafe) let zeros = zeroRegion(g)
            let workers = run(g, indirectPass: ATELIER_CONV_BACKWARD_WEIGHTS, sharing: false) { conv, n0, n1, chunk, scratch, _ in
                atelier_conv_indirect_backward_weights(conv, k, x, dy, n0, n1, chunk, scratch, zeros)
            }
            // (tap, c) rows of K floats rounded up to whole vectors.
            let rowFloats = (g.outChannels + 15) / 16 * 16
            nonisolated(unsafe) let dwp = scratch[0] + partial
            combine(rows: g.columnRows, rowFloats: rowFloats, workers: workers, partial: partial, into: dwp)
            let beta: Float = accumulate ? 1 : 0
            withUnsafePointer(to: &conv) { conv in
                nonisolated(unsafe) let conv = conv
                Parallel.forEachSlice(g.inChannels, minimumSlice: max(1, (1 << 14) / (g.outChannels * g.kernelHeight * g.kernelWidth))) { channels in
                    atelier_conv_indirect_finish_weights(conv, k, dwp, dw, beta, channels.lowerBound, channels.upperBound)
                }
            }
        }
    }

    /// Adds workers 1... partial sums (at `partial` in their scratch) into
    /// `target` in worker order, then runs `finish` on the same output
    /// channels, split over the cores by output channel.
    private func combine(_ g: ConvGeometry, workers: Int, partial: Int, into target: UnsafeMutablePointer<Float>,
                         finish: ((Range<Int>) -> Void)? = nil) {
        combine(rows: g.outChannels, rowFloats: g.columnRows, workers: workers, partial: partial, into: target, finish: finish)
    }

    /// The same for partial sums of `rows` rows of `rowFloats` floats, split by row.
    private func combine(rows: Int, rowFloats: Int, workers: Int, partial: Int, into target: UnsafeMutablePointer<Float>,
                         finish: ((Range<Int>) -> Void)? = nil) {
        nonisolated(unsafe) let (sources, target) = (scratch.prefix(workers).map { $0 + partial }, target)
        Parallel.forEachSlice(rows, minimumSlice: max(1, (1 << 14) / rowFloats)) { rows in
            let offset = rows.lowerBound * rowFloats
            for source in sources.dropFirst() {
                atelier_add(rows.count * rowFloats, source + offset, target + offset)
            }
            finish?(rows)
        }
    }

    /// (K, C, R, S) -> (R, S, C, K) or (K, R, S, C), into the shared weight scratch.
    private func permutedWeights(_ g: ConvGeometry, _ w: UnsafeMutablePointer<Float>,
                                 tapsMajor: Bool) -> UnsafeMutablePointer<Float> {
        reserveWeights(2 * g.weightCount)
        var conv = CPULayout.geometry(g)
        atelier_conv_pixels_weights(&conv, Int32(g.outChannels), w, weights, weights + g.weightCount, tapsMajor ? 1 : 0)
        return weights
    }

    /// The indirect algorithm's weight panels for `pass`, into the shared
    /// weight scratch, packed by every core.
    private func packedWeights(_ g: ConvGeometry, _ w: UnsafeMutablePointer<Float>, pass: Int) -> UnsafeMutablePointer<Float> {
        var conv = CPULayout.geometry(g)
        let k = Int32(g.outChannels), pass = Int32(pass)
        nonisolated(unsafe) let w = w
        return packInShares(packed: atelier_conv_indirect_packed_size(&conv, k), units: atelier_conv_indirect_pack_units(&conv, k, pass),
                            tmp: atelier_conv_indirect_pack_scratch(&conv), g) { conv, weights, begin, end, tmp in
            atelier_conv_indirect_pack(conv, k, w, weights, pass, begin, end, tmp)
        }
    }

    /// The Winograd pass's transformed weights, the same way.
    private func winogradWeights(_ g: ConvGeometry, _ w: UnsafeMutablePointer<Float>, pass: Int) -> UnsafeMutablePointer<Float> {
        var conv = CPULayout.geometry(g)
        let k = Int32(g.outChannels), pass = Int32(pass)
        nonisolated(unsafe) let w = w
        return packInShares(packed: atelier_conv_winograd_packed_size(&conv, k, pass), units: atelier_conv_winograd_pack_units(&conv, k, pass),
                            tmp: atelier_conv_winograd_pack_scratch(&conv, k, pass), g) { conv, weights, begin, end, tmp in
            atelier_conv_winograd_pack(conv, k, w, weights, pass, begin, end, tmp)
        }
    }

    /// `packed` floats of the shared weight scratch, filled by the cores in
    /// shares of `units` (`pack(geometry, weights, begin, end, tmp)`), each
    /// with `tmp` floats of its own after the weights: done on the calling
    /// thread while the others waited, packing took 1 % of a dcgan step.
    private func packInShares(packed: Int, units: Int, tmp: Int, _ g: ConvGeometry,
                              _ pack: (UnsafePointer<AtelierConv>, UnsafeMutablePointer<Float>, Int, Int, UnsafeMutablePointer<Float>) -> Void)
        -> UnsafeMutablePointer<Float> {
        var conv = CPULayout.geometry(g)
        let workers = min(Parallel.cores, units)
        reserveWeights(packed + workers * tmp)
        nonisolated(unsafe) let weights = weights
        withUnsafePointer(to: &conv) { conv in
            nonisolated(unsafe) let conv = conv
            Parallel.forEachWorker(workers) { worker in
                pack(conv, weights, units * worker / workers, units * (worker + 1) / workers, weights + packed + worker * tmp)
            }
        }
        return weights
    }

    private func zeroRegion(_ g: ConvGeometry) -> UnsafeMutablePointer<Float> {
        var conv = CPULayout.geometry(g)
        let floats = atelier_conv_indirect_zeros(&conv, Int32(g.outChannels))
        if zerosCapacity < floats {
            zeros.deallocate()
            zeros = .allocate(capacity: floats)
            zeros.initialize(repeating: 0, count: floats)
            zerosCapacity = floats
        }
        return zeros
    }

    private func reserveWeights(_ floats: Int) {
        guard weightsCapacity < floats else { return }
        weights.deallocate()
        weights = .allocate(capacity: floats)
        weightsCapacity = floats
    }

    /// `run` with the Winograd algorithm's scratch for `pass`, in pieces of
    /// its chunk: a piece that ends mid-chunk leaves a GEMM of a few rows
    /// (the last of 8 samples in chunks of 3: 6 % of the GEMM time in a
    /// 4-row tile computing 2).
    @discardableResult
    private func run(_ g: ConvGeometry, winogradPass pass: Int, sharing: Bool = true,
                     _ body: (UnsafePointer<AtelierConv>, Int32, Int32, Int32, UnsafeMutablePointer<Float>, Int) -> Void) -> Int {
        var conv = CPULayout.geometry(g)
        let k = Int32(g.outChannels), most = Int32(chunkSamples(g))
        let floats = atelier_conv_winograd_scratch(&conv, k, most, Int32(pass))
        return run(g, scratchFloats: Int(floats), sharing: sharing,
                   chunk: Int(atelier_conv_winograd_chunk(&conv, k, most, Int32(pass))), body)
    }

    /// `run` with the indirect algorithm's scratch for `pass`.
    @discardableResult
    private func run(_ g: ConvGeometry, indirectPass pass: Int, sharing: Bool = true,
                     _ body: (UnsafePointer<AtelierConv>, Int32, Int32, Int32, UnsafeMutablePointer<Float>, Int) -> Void) -> Int {
        var conv = CPULayout.geometry(g)
        let floats = atelier_conv_indirect_scratch(&conv, Int32(g.outChannels), Int32(chunkSamples(g)), Int32(pass))
        return run(g, scratchFloats: Int(floats), sharing: sharing, body)
    }

    /// Calls `body(geometry, first, end, chunk, scratch, worker)` over the
    /// batch: for weight gradients (`sharing: false`) one contiguous share
    /// per worker, whose partial sums are then added in worker order; else
    /// in pieces of at most a chunk that the workers take in turn
    /// (Parallel.forEachPiece), each sample's output being its own.
    @discardableResult
    private func run(_ g: ConvGeometry, _ algorithm: Algorithm, sharing: Bool = true,
                     _ body: (UnsafePointer<AtelierConv>, Int32, Int32, Int32, UnsafeMutablePointer<Float>, Int) -> Void) -> Int {
        var conv = CPULayout.geometry(g)
        let k = Int32(g.outChannels), chunk = Int32(chunkSamples(g))
        let floats = algorithm == .channelMajor ? atelier_conv_scratch(&conv, k, chunk)
                                                : atelier_conv_pixels_scratch(&conv, k, chunk)
        return run(g, scratchFloats: Int(floats), sharing: sharing, body)
    }

    /// The same with `scratchFloats` of scratch per worker and chunks of
    /// `chunk` samples (default chunkSamples).
    @discardableResult
    private func run(_ g: ConvGeometry, scratchFloats floats: Int, sharing: Bool = true, chunk: Int? = nil,
                     _ body: (UnsafePointer<AtelierConv>, Int32, Int32, Int32, UnsafeMutablePointer<Float>, Int) -> Void) -> Int {
        let workers = min(Parallel.cores, g.batch)
        let chunk = chunk ?? chunkSamples(g)
        var conv = CPULayout.geometry(g)
        reserve(workers: workers, floats: floats)
        nonisolated(unsafe) let scratch = scratch
        withUnsafePointer(to: &conv) { conv in
            nonisolated(unsafe) let conv = conv
            if sharing {
                // About 8 pieces per worker: a slowed core hands most of its share to the others.
                let piece = min(chunk, max(1, (g.batch + 8 * workers - 1) / (8 * workers)))
                let pieces = (g.batch + piece - 1) / piece
                Parallel.forEachPiece(pieces, workers: workers) { index, worker in
                    let first = index * piece, end = min(g.batch, first + piece)
                    body(conv, Int32(first), Int32(end), Int32(chunk), scratch[worker], worker)
                }
            } else {
                Parallel.forEachWorker(workers) { worker in
                    let first = g.batch * worker / workers, end = g.batch * (worker + 1) / workers
                    body(conv, Int32(first), Int32(end), Int32(chunk), scratch[worker], worker)
                }
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
