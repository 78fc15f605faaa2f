import CAtelier

/// GEMM on the CPU path: OpenBLAS, one thread per call, with large products
/// split into one block of rows or columns of C per core.
enum CPUGemm {
    /// Products smaller than this many multiply-adds run on one core: two
    /// thinner GEMMs and the hand-off cost about what they save (a quarter
    /// of this threshold measured no faster on gan's steps at batch 64).
    static let splitThreshold = 1 << 21
    /// ... unless the operands hold this many floats: a product with a
    /// side of 1 (a dense layer with one output, its gradients) does few
    /// multiply-adds but streams megabytes, and memory bandwidth is per core
    /// too. 1 MB: at 4 MB, dcgan's 6272 -> 1 layer at batch 64 (1.6 MB) ran
    /// on one core, its data gradient at 0.13 ms a pass instead of 0.07.
    static let splitFloats = 1 << 18
    /// Whether dense products run on our own register tiles
    /// (cpu_gemm_tiles.c) where they qualify, instead of OpenBLAS: by
    /// default where the tiles are sized for the CPU (AVX-512). On AVX2,
    /// whose tiles are 6 x 16 floats, OpenBLAS is faster (gan steps 12-15 %
    /// slower on the tiles, emulated: docs/benchmarks.md). Tests turn them
    /// on and off on any CPU (CPUBackend.gemmTiles).
    static let tiles = CPUTuning.cpuHasAVX512

    /// Dense data and weight gradients (C = A B, C = A^T B) read both
    /// operands in place on the tiles; OpenBLAS packs both on every call
    /// (gan, batch 64: weight gradients 3.9 -> 3.3-3.7 ms per step, data
    /// gradients 9.2 -> 8.5-9.0). Not when adding to C (beta 1): reading a
    /// large C tile by tile waited on memory (D.dense1's accumulated weight
    /// gradient 1.7 -> 1.9-2.4 ms, prefetched or not); OpenBLAS keeps it.
    /// Nor for outer products (k < 16): a tile that stores 24 vectors per
    /// multiply-add step is slower than OpenBLAS (dcgan's 6272 -> 1 data
    /// gradient, 0.05 -> 0.10 ms).
    static func onTiles(_ s: GemmShape) -> Bool {
        !s.transposeB && s.alpha == 1 && s.beta == 0 && s.n % 16 == 0 && s.m > 1 && s.k >= 16
    }

    /// Each core applies the epilogue to its own block of C right after
    /// computing it. With `tiles` (the scratch the tiles use), products that
    /// qualify run on the register tiles.
    static func run(_ s: GemmShape, _ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>,
                    _ c: UnsafeMutablePointer<Float>, epilogue: CPUEpilogue = .none, tiles scratch: CPUGemmScratch? = nil) {
        nonisolated(unsafe) let (a, b, c) = (a, b, c)
        let lda = s.transposeA ? s.m : s.k, ldb = s.transposeB ? s.k : s.n
        let cores = Parallel.cores
        if scratch != nil, onTiles(s) {
            runOnTiles(s, a, b, c, epilogue: epilogue)
            return
        }
        if let scratch, forwardOnTiles(s) {
            runForwardOnTiles(s, a, b, c, epilogue: epilogue, scratch: scratch)
            return
        }
        let splitRows = s.m >= s.n
        let extent = splitRows ? s.m : s.n
        // Blocks of whole 16-float vectors, so each core's share stays aligned.
        let blocks = (extent + 15) / 16
        let large = s.m * s.n * s.k >= splitThreshold || s.aCount + s.bCount + s.cCount >= splitFloats
        let workers = large ? min(cores, blocks) : 1
        Parallel.forEachWorker(workers) { worker in
            let first = min(extent, blocks * worker / workers * 16)
            let end = min(extent, blocks * (worker + 1) / workers * 16)
            guard end > first else { return }
            if splitRows {
                sgemm(s, m: end - first, n: s.n, a + (s.transposeA ? first : first * lda), lda, b, ldb,
                      c + first * s.n)
                epilogue.apply(rows: end - first, channels: s.n, inner: 1, rowStride: s.n, c + first * s.n, biasOffset: 0,
                               elementOffset: first * s.n)
            } else {
                sgemm(s, m: s.m, n: end - first, a, lda, b + (s.transposeB ? first * ldb : first), ldb, c + first)
                epilogue.apply(rows: s.m, channels: end - first, inner: 1, rowStride: s.n, c + first, biasOffset: first,
                               elementOffset: first)
            }
        }
    }

    /// A dense layer's forward product, C = A B^T, on the tiles as C^T = B A^T:
    /// the weights B are read in place and only A is packed (m * k floats).
    static func forwardOnTiles(_ s: GemmShape) -> Bool {
        s.transposeB && !s.transposeA && s.alpha == 1 && s.beta == 0 && s.m % 16 == 0 && s.n > 1 && s.k >= 16
    }

    /// A^T packed by all cores, then one block of C's columns per core.
    private static func runForwardOnTiles(_ s: GemmShape, _ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>,
                                          _ c: UnsafeMutablePointer<Float>, epilogue: CPUEpilogue, scratch: CPUGemmScratch) {
        let large = s.m * s.n * s.k >= splitThreshold || s.aCount + s.bCount + s.cCount >= splitFloats
        let workers = large ? min(Parallel.cores, s.n) : 1
        scratch.reserve(packed: s.m * s.k, tmp: 96 * s.m, workers: workers)
        nonisolated(unsafe) let (a, b, c, packed, tmp) = (a, b, c, scratch.packed, scratch.tmp)
        let panels = (s.m + 63) / 64
        Parallel.forEachSlice(panels, minimumSlice: max(1, (1 << 16) / (64 * s.k))) { p in
            atelier_gemm_tiles_pack_columns(s.m, s.k, a, packed, p.lowerBound, p.upperBound)
        }
        Parallel.forEachWorker(workers) { worker in
            let first = s.n * worker / workers, end = s.n * (worker + 1) / workers
            guard end > first else { return }
            // The forward form (bias, activation) is applied inside, before C^T is transposed into C
            // (the bias from C's column 0: the C loop offsets it).
            let inside = epilogue.activated == nil
            atelier_gemm_tiles_nt(first, end, s.m, s.k, b, s.k, packed, c, s.n, tmp[worker],
                                  inside ? epilogue.bias(from: 0) : nil,
                                  inside ? epilogue.activation : Int32(ATELIER_ACT_IDENTITY), epilogue.parameter)
            if !inside {
                epilogue.apply(rows: s.m, channels: end - first, inner: 1, rowStride: s.n, c + first,
                               biasOffset: first, elementOffset: first)
            }
        }
    }

    /// One block of C per core, as many as the size allows: rows when C is
    /// at least as tall as wide, else columns, so each core streams only its
    /// share of the larger operand (gan's 1024 -> 2304 data gradient at batch
    /// 64, split by rows, had both cores read all 9 MB of the weights).
    private static func runOnTiles(_ s: GemmShape, _ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>,
                                   _ c: UnsafeMutablePointer<Float>, epilogue: CPUEpilogue) {
        nonisolated(unsafe) let (a, b, c) = (a, b, c)
        let lda = s.transposeA ? s.m : s.k
        let large = s.m * s.n * s.k >= splitThreshold || s.aCount + s.bCount + s.cCount >= splitFloats
        let splitRows = s.m >= s.n
        let blocks = splitRows ? s.m : s.n / 16
        let workers = large ? min(Parallel.cores, blocks) : 1
        Parallel.forEachWorker(workers) { worker in
            var (m0, m1, n0, n1) = (0, s.m, 0, s.n)
            if splitRows {
                (m0, m1) = (s.m * worker / workers, s.m * (worker + 1) / workers)
            } else {
                (n0, n1) = (blocks * worker / workers * 16, blocks * (worker + 1) / workers * 16)
            }
            guard m1 > m0, n1 > n0 else { return }
            if s.transposeA {
                atelier_gemm_tiles_tn(m0, m1, n0, n1, s.k, a, lda, b, s.n, c, s.n)
                epilogue.apply(rows: m1 - m0, channels: n1 - n0, inner: 1, rowStride: s.n, c + m0 * s.n + n0,
                               biasOffset: n0, elementOffset: m0 * s.n + n0)
            } else {
                // The epilogue is applied inside, a panel at a time (C's offsets: bias and activated start at C's origin).
                atelier_gemm_tiles_nn(m0, m1, n0, n1, s.k, a, lda, b, s.n, c, s.n, epilogue.bias(from: 0),
                                      epilogue.activation, epilogue.parameter, epilogue.activated.map { UnsafePointer($0) })
            }
        }
    }

    /// Rows [.., m) and columns [.., n) of C, from A and B already offset to
    /// them. A product with one row or one column of C is a matrix-vector
    /// product: OpenBLAS's GEMM treats it as a thin GEMM at a fifth of the
    /// speed of its GEMV (dcgan's 6272 -> 1 layer: 0.3 ms per pass at batch
    /// 256, streaming 6.4 MB).
    private static func sgemm(_ s: GemmShape, m: Int, n: Int, _ a: UnsafeMutablePointer<Float>, _ lda: Int,
                              _ b: UnsafeMutablePointer<Float>, _ ldb: Int, _ c: UnsafeMutablePointer<Float>) {
        if s.n == 1 {
            // c (m) = op(A) (m x k) * b (k, contiguous whether or not B is transposed).
            cblas_sgemv(CblasRowMajor, s.transposeA ? CblasTrans : CblasNoTrans, Int32(s.transposeA ? s.k : m),
                        Int32(s.transposeA ? m : s.k), s.alpha, a, Int32(lda), b, 1, s.beta, c, 1)
            return
        }
        if s.m == 1 {
            // c (n) = op(B)^T (n x k) * a (k, contiguous whether or not A is transposed).
            cblas_sgemv(CblasRowMajor, s.transposeB ? CblasNoTrans : CblasTrans, Int32(s.transposeB ? n : s.k),
                        Int32(s.transposeB ? s.k : n), s.alpha, b, Int32(ldb), a, 1, s.beta, c, 1)
            return
        }
        cblas_sgemm(CblasRowMajor, s.transposeA ? CblasTrans : CblasNoTrans, s.transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(s.k), s.alpha, a, Int32(lda), b, Int32(ldb), s.beta, c, Int32(s.n))
    }
}

/// The packed operand and per-core staging of CPUGemm's forward products
/// on the tiles, kept between calls so a training step allocates nothing.
final class CPUGemmScratch: @unchecked Sendable {
    private(set) var packed = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var tmp: [UnsafeMutablePointer<Float>] = []
    private var packedCapacity = 0, tmpCapacity = 0

    func reserve(packed floats: Int, tmp perWorker: Int, workers: Int) {
        if packedCapacity < floats {
            packed.deallocate()
            packed = .allocate(capacity: floats)
            packedCapacity = floats
        }
        if tmp.count < workers || tmpCapacity < perWorker {
            for t in tmp { t.deallocate() }
            tmpCapacity = max(tmpCapacity, perWorker)
            tmp = (0..<max(workers, tmp.count)).map { _ in .allocate(capacity: tmpCapacity) }
        }
    }

    deinit {
        packed.deallocate()
        for t in tmp { t.deallocate() }
    }
}
