import CAtelier

/// 3x3 convolutions at stride 1 with at least 16 channels both ways
/// (CycleGAN's residual blocks) by Winograd's F(4x4, 3x3): a quarter of the
/// direct algorithm's multiply-adds (cpu_conv_winograd_3x3.c). Each pass
/// transforms a chunk of samples, split over the cores by block and channel;
/// then the cores take blocks of 48 output channels in turn, each
/// transforming the kernel for its block and running the block's 36 GEMMs
/// (one per transform position) and output transform. So a batch of one
/// keeps every core busy.
final class CPUWinograd3x3 {
    /// The images transposed to (h, w, c), their transforms and the GEMMs'
    /// products, and each core's block of the transformed kernel (or of the
    /// weight gradient's sums), kept between calls so a training step
    /// allocates nothing.
    private let packed = HostScratch(), transformed = HostScratch(), products = HostScratch()
    private var blocks: [HostScratch] = []
    /// Floats one chunk of samples may take in all (16 MB): a chunk of
    /// CycleGAN's 128 px residual layer holds 5 samples. Tests make it
    /// small to run a sample at a time.
    static let defaultChunkFloats = 1 << 22
    var chunkFloats = CPUWinograd3x3.defaultChunkFloats
    static let positions = 36
    /// Output channels per block: each core transforms the kernel for one
    /// block at a time (36 x C x 48 floats, 1.8 MB at 256 channels, within
    /// its L2) and runs the block's 36 GEMMs right after, on 8 x 3 register
    /// tiles that 16 and 64 blocks of outputs fill exactly. Transformed
    /// whole, the kernel (9.4 MB) went out to L3 and back on every call:
    /// at 64 px, where a sample has 16 blocks of outputs, that took longer
    /// than the GEMMs. (Residual layer at 64 px, forward pass: whole 1.41
    /// ms, blocks of 32 0.53, of 48 0.37-0.39, of 64 0.69-0.72.)
    static let blockWidth = 48
    /// Whether the GEMMs run on the CPU path's register tiles (operands read
    /// in place) instead of OpenBLAS: where those are sized for the CPU
    /// (CPUGemm.tiles); tests take both.
    var onTiles = CPUGemm.tiles

    static func applies(_ g: ConvGeometry) -> Bool {
        var conv = CPULayout.geometry(g)
        return min(g.inChannels, g.outChannels) >= 16 && atelier_wino3_supported(&conv) != 0
    }

    /// Multiply-adds of each pass's GEMMs over the batch (blocks that
    /// overhang the image included); the three passes share the blocks.
    static func multiplyAdds(_ g: ConvGeometry) -> Double {
        Double(positions) * Double(g.inChannels) * Double(g.outChannels) * Double(Blocks(g).perSample * g.batch)
    }

    /// The 4x4 output blocks of `g` and its input padded to cover them.
    private struct Blocks {
        let high, wide, rows, cols: Int
        init(_ g: ConvGeometry) {
            high = atelier_wino3_blocks(Int32(g.outHeight))
            wide = atelier_wino3_blocks(Int32(g.outWidth))
            (rows, cols) = (4 * high + 2, 4 * wide + 2)
        }
        var perSample: Int { high * wide }
    }

    /// y = conv(x, w), chunk by chunk.
    func forward(_ g: ConvGeometry, x: UnsafeMutablePointer<Float>, w: UnsafeMutablePointer<Float>,
                 y: UnsafeMutablePointer<Float>, epilogue e: CPUEpilogue) {
        let (k, c, kp, cp) = (g.outChannels, g.inChannels, Self.padded(g.outChannels), Self.padded(g.inChannels))
        let b = Blocks(g), positions = Self.positions, width = Self.blockWidth
        let imageFloats = b.rows * b.cols * cp
        let samples = chunk(g, perSample: imageFloats + positions * b.perSample * (cp + kp))
        nonisolated(unsafe) let xt = packed.reserve(samples * imageFloats)
        nonisolated(unsafe) let v = transformed.reserve(positions * Self.positionFloats(samples * b.perSample * cp))
        nonisolated(unsafe) let product = products.reserve(positions * Self.positionFloats(samples * b.perSample * kp))
        nonisolated(unsafe) let kernels = workerBlocks(positions * Self.positionFloats(c * width) + 9 * c * width)
        nonisolated(unsafe) let (x, w, y) = (x, w, y)
        let pixels = g.outHeight * g.outWidth, tiles = onTiles
        for n0 in stride(from: 0, to: g.batch, by: samples) {
            let n = min(g.batch - n0, samples), blocks = n * b.perSample
            Parallel.forEachSlice(n * b.rows, minimumSlice: max(1, (1 << 12) / (b.cols * cp))) { r in
                atelier_wino3_pack(x + n0 * c * g.height * g.width, Int32(c), Int32(g.height), Int32(g.width),
                                   Int32(g.padH), Int32(g.padW), Int32(b.rows), Int32(b.cols), Int32(cp), xt,
                                   r.lowerBound, r.upperBound)
            }
            Parallel.forEachSlice(blocks * cp / 16, minimumSlice: 64) { r in
                atelier_wino3_input(xt, Int32(b.rows), Int32(b.cols), Int32(b.high), Int32(b.wide), Int32(cp), v, blocks,
                                    r.lowerBound, r.upperBound)
            }
            let offset = n0 * k * pixels
            eachBlock(outputs: k, work: k * c * blocks) { o0, o1, worker in
                let u = kernels[worker], columns = Self.padded(o1 - o0)
                atelier_wino3_kernel(w, Int32(k), Int32(c), 0, u, width, o0, o1, u + positions * Self.positionFloats(c * width))
                Self.blockProducts(blocks: blocks, outputs: o1 - o0, depth: c, images: v, imageRow: cp, kernel: u,
                                   products: product + o0, productRow: kp, tiles: tiles)
                atelier_wino3_output(product, kp, Int32(k), Int32(g.outHeight), Int32(g.outWidth), Int32(n), y + offset,
                                     o0 / 16, (o0 + columns) / 16, e.bias, e.activation, e.parameter, e.activated.map { $0 + offset })
            }
        }
    }

    /// Overwrites dx, then applies the epilogue (a transposed convolution's
    /// forward pass): dy's blocks transformed, then for each block of 48
    /// input channels the kernel transform, the GEMMs and the patches added
    /// into dx, on one core.
    func backwardData(_ g: ConvGeometry, dy: UnsafeMutablePointer<Float>, w: UnsafeMutablePointer<Float>,
                      dx: UnsafeMutablePointer<Float>, epilogue e: CPUEpilogue) {
        let (k, c, kp, cp) = (g.outChannels, g.inChannels, Self.padded(g.outChannels), Self.padded(g.inChannels))
        let b = Blocks(g), positions = Self.positions, width = Self.blockWidth
        let gradientFloats = 16 * b.perSample * kp, frameFloats = b.rows * b.cols * cp
        let samples = chunk(g, perSample: gradientFloats + frameFloats + positions * b.perSample * (cp + kp))
        nonisolated(unsafe) let (dyt, frames) = packed.split(samples * gradientFloats, samples * frameFloats)
        nonisolated(unsafe) let d = transformed.reserve(positions * Self.positionFloats(samples * b.perSample * kp))
        nonisolated(unsafe) let product = products.reserve(positions * Self.positionFloats(samples * b.perSample * cp))
        nonisolated(unsafe) let kernels = workerBlocks(positions * Self.positionFloats(k * width) + 9 * k * width)
        nonisolated(unsafe) let (dy, w, dx) = (dy, w, dx)
        let tiles = onTiles
        var conv = CPULayout.geometry(g)
        withUnsafePointer(to: &conv) { conv in
            nonisolated(unsafe) let conv = conv
            for n0 in stride(from: 0, to: g.batch, by: samples) {
                let n = min(g.batch - n0, samples), blocks = n * b.perSample
                Parallel.forEachSlice(n * 4 * b.high, minimumSlice: max(1, (1 << 12) / (4 * b.wide * kp))) { r in
                    atelier_wino3_pack(dy + n0 * k * g.outHeight * g.outWidth, Int32(k), Int32(g.outHeight), Int32(g.outWidth),
                                       0, 0, Int32(4 * b.high), Int32(4 * b.wide), Int32(kp), dyt, r.lowerBound, r.upperBound)
                }
                Parallel.forEachSlice(blocks * kp / 16, minimumSlice: 64) { r in
                    atelier_wino3_gradient(dyt, Int32(b.high), Int32(b.wide), Int32(kp), d, blocks, r.lowerBound, r.upperBound)
                }
                let offset = n0 * c * g.height * g.width
                eachBlock(outputs: c, work: k * c * blocks) { c0, c1, worker in
                    let u = kernels[worker], columns = Self.padded(c1 - c0)
                    atelier_wino3_kernel(w, Int32(k), Int32(c), 1, u, width, c0, c1, u + positions * Self.positionFloats(k * width))
                    Self.blockProducts(blocks: blocks, outputs: c1 - c0, depth: k, images: d, imageRow: kp, kernel: u,
                                       products: product + c0, productRow: cp, tiles: tiles)
                    atelier_wino3_scatter(conv, product, cp, Int32(n), frames, dx + offset, c0 / 16, (c0 + columns) / 16,
                                          e.bias, e.activation, e.parameter, e.activated.map { $0 + offset })
                }
            }
        }
    }

    /// dw = accumulate * dw + the gradient. A batch in one chunk sums each
    /// block of kernels' GEMMs and finishes its taps on one core; larger
    /// batches add chunk after chunk into sums for all of them first. Either
    /// way the result does not depend on the cores.
    func backwardWeights(_ g: ConvGeometry, x: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         dw: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (k, c, kp, cp) = (g.outChannels, g.inChannels, Self.padded(g.outChannels), Self.padded(g.inChannels))
        let b = Blocks(g), positions = Self.positions, width = Self.blockWidth
        let imageFloats = b.rows * b.cols * cp, gradientFloats = 16 * b.perSample * kp
        let samples = chunk(g, perSample: imageFloats + gradientFloats + positions * b.perSample * (cp + kp))
        let whole = samples >= g.batch
        nonisolated(unsafe) let (xt, dyt) = packed.split(samples * imageFloats, samples * gradientFloats)
        nonisolated(unsafe) let (v, d) = transformed.split(positions * Self.positionFloats(samples * b.perSample * cp),
                                                           positions * Self.positionFloats(samples * b.perSample * kp))
        nonisolated(unsafe) let sums = whole ? workerBlocks(positions * Self.positionFloats(width * cp))
                                             : [products.reserve(positions * Self.positionFloats(k * cp))]
        nonisolated(unsafe) let (x, dy, dw) = (x, dy, dw)
        let beta: Float = accumulate ? 1 : 0, tiles = onTiles
        for n0 in stride(from: 0, to: g.batch, by: samples) {
            let n = min(g.batch - n0, samples), blocks = n * b.perSample
            let (imageRows, gradientRows) = (n * b.rows, n * 4 * b.high)
            Parallel.forEachSlice(imageRows + gradientRows, minimumSlice: max(1, (1 << 12) / (b.cols * cp))) { r in
                let image = r.clamped(to: 0..<imageRows), gradient = r.clamped(to: imageRows..<(imageRows + gradientRows))
                if !image.isEmpty {
                    atelier_wino3_pack(x + n0 * c * g.height * g.width, Int32(c), Int32(g.height), Int32(g.width),
                                       Int32(g.padH), Int32(g.padW), Int32(b.rows), Int32(b.cols), Int32(cp), xt,
                                       image.lowerBound, image.upperBound)
                }
                if !gradient.isEmpty {
                    atelier_wino3_pack(dy + n0 * k * g.outHeight * g.outWidth, Int32(k), Int32(g.outHeight), Int32(g.outWidth),
                                       0, 0, Int32(4 * b.high), Int32(4 * b.wide), Int32(kp), dyt,
                                       gradient.lowerBound - imageRows, gradient.upperBound - imageRows)
                }
            }
            let (imageUnits, gradientUnits) = (blocks * cp / 16, blocks * kp / 16)
            Parallel.forEachSlice(imageUnits + gradientUnits, minimumSlice: 64) { r in
                let image = r.clamped(to: 0..<imageUnits), gradient = r.clamped(to: imageUnits..<(imageUnits + gradientUnits))
                if !image.isEmpty {
                    atelier_wino3_input(xt, Int32(b.rows), Int32(b.cols), Int32(b.high), Int32(b.wide), Int32(cp), v, blocks,
                                        image.lowerBound, image.upperBound)
                }
                if !gradient.isEmpty {
                    atelier_wino3_gradient(dyt, Int32(b.high), Int32(b.wide), Int32(kp), d, blocks,
                                           gradient.lowerBound - imageUnits, gradient.upperBound - imageUnits)
                }
            }
            if whole {
                eachBlock(outputs: k, work: k * c * blocks) { k0, k1, worker in
                    let m = sums[worker]
                    for pos in 0..<positions {
                        Self.weightProducts(k1 - k0, c, cp, blocks, d + pos * Self.positionFloats(blocks * kp) + k0, kp,
                                            v + pos * Self.positionFloats(blocks * cp), m + pos * Self.positionFloats(width * cp), beta: 0, tiles: tiles)
                    }
                    atelier_wino3_finish_weights(m, Int32(width), Int32(c), Int32(cp), dw + k0 * c * 9, beta, 0, k1 - k0)
                }
                return
            }
            // The tiles overwrite their product: only a first chunk may use them.
            let (first, m) = (n0 == 0, sums[0])
            eachPosition(work: k * c * blocks) { pos in
                Self.weightProducts(k, c, cp, blocks, d + pos * Self.positionFloats(blocks * kp), kp, v + pos * Self.positionFloats(blocks * cp),
                                    m + pos * Self.positionFloats(k * cp),
                                    beta: first ? 0 : 1, tiles: tiles && first)
            }
        }
        let m = sums[0]
        Parallel.forEachSlice(k, minimumSlice: max(1, (1 << 12) / (cp * positions))) { r in
            atelier_wino3_finish_weights(m, Int32(k), Int32(c), Int32(cp), dw, beta, r.lowerBound, r.upperBound)
        }
    }

    /// One block of outputs' 36 GEMMs: products[pos] (blocks x outputs,
    /// `productRow` floats a row, from the block's first output) =
    /// images[pos] (blocks x depth, `imageRow` a row) kernel[pos] (depth x
    /// outputs, blockWidth a row).
    private static func blockProducts(blocks: Int, outputs: Int, depth: Int, images: UnsafeMutablePointer<Float>, imageRow: Int,
                                      kernel: UnsafeMutablePointer<Float>, products: UnsafeMutablePointer<Float>, productRow: Int,
                                      tiles: Bool) {
        let width = blockWidth
        for pos in 0..<positions {
            let source = images + pos * positionFloats(blocks * imageRow), weights = kernel + pos * positionFloats(depth * width)
            let result = products + pos * positionFloats(blocks * productRow)
            if tiles {
                atelier_gemm_tiles_nn(0, blocks, 0, padded(outputs), depth, source, imageRow, weights, width, result, productRow, nil,
                                      Int32(ATELIER_ACT_IDENTITY), 0, nil)
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(blocks), Int32(outputs), Int32(depth), 1,
                            source, Int32(imageRow), weights, Int32(width), 0, result, Int32(productRow))
            }
        }
    }

    /// sums (rows x c, cp floats a row) = beta sums + D^T V for D (blocks x
    /// rows, ldd) and V (blocks x c, cp floats a row).
    private static func weightProducts(_ rows: Int, _ c: Int, _ cp: Int, _ blocks: Int, _ d: UnsafeMutablePointer<Float>,
                                       _ ldd: Int, _ v: UnsafeMutablePointer<Float>, _ sums: UnsafeMutablePointer<Float>,
                                       beta: Float, tiles: Bool) {
        if tiles {
            atelier_gemm_tiles_tn(0, rows, 0, cp, blocks, d, ldd, v, cp, sums, cp)
        } else {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(rows), Int32(c), Int32(blocks), 1,
                        d, Int32(ldd), v, Int32(cp), beta, sums, Int32(cp))
        }
    }

    private static func padded(_ channels: Int) -> Int { (channels + 15) / 16 * 16 }

    /// Floats between the transform positions' matrices of `floats` floats
    /// (cpu_conv_winograd_3x3.c skews them apart by a vector).
    private static func positionFloats(_ floats: Int) -> Int { atelier_wino3_position(floats) }

    /// Samples per chunk: as many as fit `chunkFloats`, at least one.
    private func chunk(_ g: ConvGeometry, perSample: Int) -> Int {
        max(1, min(g.batch, chunkFloats / max(1, perSample)))
    }

    /// A scratch block of `floats` for each core.
    private func workerBlocks(_ floats: Int) -> [UnsafeMutablePointer<Float>] {
        while blocks.count < Parallel.cores { blocks.append(HostScratch()) }
        return blocks.map { $0.reserve(floats) }
    }

    /// `body(first, end, worker)` for each block of `blockWidth` outputs, the
    /// cores taking the next when done (the machine's cores are shared);
    /// one core for small products.
    private func eachBlock(outputs: Int, work: Int, _ body: (Int, Int, Int) -> Void) {
        let count = (outputs + Self.blockWidth - 1) / Self.blockWidth
        let workers = work * Self.positions >= CPUGemm.splitThreshold ? Parallel.cores : 1
        Parallel.forEachPiece(count, workers: workers) { block, worker in
            let first = block * Self.blockWidth
            body(first, min(outputs, first + Self.blockWidth), worker)
        }
    }

    /// One GEMM per position, the cores taking the next when done; one core for small products.
    private func eachPosition(work: Int, _ body: (Int) -> Void) {
        let workers = work * Self.positions >= CPUGemm.splitThreshold ? Parallel.cores : 1
        Parallel.forEachPiece(Self.positions, workers: workers) { pos, _ in body(pos) }
    }
}

/// A growable float buffer of the CPU path's scratch; contents do not survive growing.
final class HostScratch {
    private(set) var pointer = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var capacity = 1

    deinit { pointer.deallocate() }

    func reserve(_ floats: Int) -> UnsafeMutablePointer<Float> {
        if capacity < floats {
            pointer.deallocate()
            pointer = .allocate(capacity: floats)
            capacity = floats
        }
        return pointer
    }

    /// Two regions of `first` and `second` floats.
    func split(_ first: Int, _ second: Int) -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
        let base = reserve(first + second)
        return (base, base + first)
    }
}
