/// The build-time tunables of the kernels (`-D` options) and launch sizes,
/// with defaults per device type. The benchmark tool's `--tune` sweeps them.
public struct DeviceTuning: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Gemm: Sendable, Hashable, Codable {
        /// gemm_blocked: `rows` x `vectorWidth` outputs per work-item, in
        /// work-groups of `localX` x `localY`.
        case blocked(rows: Int, vectorWidth: Int, localX: Int, localY: Int)
        /// gemm_tiled: `tileM` x `tileN` x `tileK` local tiles, `workM` x
        /// `workN` outputs per work-item.
        case tiled(tileM: Int, tileN: Int, tileK: Int, workM: Int, workN: Int)
    }

    public var gemm: Gemm
    /// gemm_blocked_nt (A times B^T on CPU devices): rows x columns of dot
    /// products per work-item.
    public var dotRows: Int
    public var dotColumns: Int
    /// Work-group size of elementwise and layout kernels.
    public var pointwiseLocal: Int
    /// Consecutive elements per work-item of elementwise kernels, as one
    /// vector (CPU devices vectorise math builtins only on vector types).
    public var pointwiseVector: Int
    /// `exp` in elementwise kernels as a vectorisable polynomial
    /// (Kernels/fastmath.cl) instead of the driver's: for CPU devices.
    public var polynomialExp: Bool
    /// Tile edge of a plain transpose, one tile per work-item; 1 moves one
    /// element per work-item (coalesced reads on GPUs).
    public var transposeTile: Int
    /// Work-items per channel in per-channel reductions (1 = one item sums a
    /// channel alone, best where local memory is emulated).
    public var channelReduceLocal: Int
    /// Partial sums of a whole-buffer reduction (stage 1 work-items).
    public var reducePartials: Int
    /// Work-group size of the partial sums (1 on CPUs: each partial is its
    /// own work-group, so they spread over every core).
    public var reduceLocal: Int
    /// The algorithm of each convolution pass `--tune` measured, by
    /// `ConvPass.key` (pass and shape); nil or missing entries follow
    /// `convolution`, then `ConvAlgorithm.rule`. Optional so that tuning
    /// files saved before it existed still load.
    public var convolutions: [String: ConvAlgorithm]?
    /// One algorithm for every convolution not in `convolutions` (tests and
    /// experiments); nil applies the rule per shape.
    public var convolution: ConvAlgorithm?

    public init(gemm: Gemm, dotRows: Int = 4, dotColumns: Int = 4, pointwiseLocal: Int, pointwiseVector: Int, polynomialExp: Bool, transposeTile: Int, channelReduceLocal: Int,
                reducePartials: Int, reduceLocal: Int) {
        self.transposeTile = transposeTile
        self.polynomialExp = polynomialExp
        self.gemm = gemm
        self.dotRows = dotRows
        self.dotColumns = dotColumns
        self.pointwiseLocal = pointwiseLocal
        self.pointwiseVector = pointwiseVector
        self.channelReduceLocal = channelReduceLocal
        self.reducePartials = reducePartials
        self.reduceLocal = reduceLocal
    }

    /// Register blocking with vectors for CPUs (local memory is emulated
    /// there); local-memory tiles for GPUs and other devices with dedicated
    /// local memory. Work-groups shrink to the device's limit (some mobile
    /// and embedded GPUs allow fewer than 256 work-items), so the defaults
    /// are valid on every device.
    public static func defaults(for device: OpenCLDeviceInfo) -> DeviceTuning {
        let group = max(1, device.maxWorkGroupSize)
        let local = min(256, group)
        if device.kind == .cpu || !device.hasDedicatedLocalMemory {
            let side = group >= 16 ? 4 : 1
            return DeviceTuning(gemm: .blocked(rows: 8, vectorWidth: 16, localX: side, localY: side),
                                pointwiseLocal: local, pointwiseVector: 16, polynomialExp: true, transposeTile: 16, channelReduceLocal: 1, reducePartials: 64, reduceLocal: 1)
        }
        // 64x64 tiles of C: 4x4 outputs per work-item (256 items), or larger
        // blocks per item where work-groups must be smaller.
        let work = group >= 256 ? 4 : group >= 64 ? 8 : 16
        let gemm: Gemm = group >= 16 ? .tiled(tileM: 64, tileN: 64, tileK: 16, workM: work, workN: work)
                                     : .blocked(rows: 4, vectorWidth: 4, localX: 1, localY: 1)
        return DeviceTuning(gemm: gemm, pointwiseLocal: local, pointwiseVector: 1, polynomialExp: false, transposeTile: 1,
                            channelReduceLocal: 1 << (Int.bitWidth - 1 - local.leadingZeroBitCount), reducePartials: 1024,
                            reduceLocal: min(64, group))
    }

    /// The algorithm of `pass` on shape `g` on `device`.
    public func convolution(for pass: ConvPass, _ g: ConvGeometry, device: OpenCLDeviceInfo) -> ConvAlgorithm {
        convolutions?[pass.key(g)] ?? convolution ?? ConvAlgorithm.rule(for: pass, g, device: device)
    }

    func validate(maxWorkGroupSize: Int) throws {
        func fail(_ why: String) throws -> Never { throw ShapeError("kernel tuning \(self): \(why)") }
        for algorithm in (convolutions ?? [:]).values + [convolution].compactMap({ $0 }) {
            try algorithm.validate(maxWorkGroupSize: maxWorkGroupSize)
        }
        switch gemm {
        case .blocked(let rows, let width, let lx, let ly):
            guard rows >= 1, [1, 2, 4, 8, 16].contains(width), lx >= 1, ly >= 1 else {
                try fail("blocked GEMM needs rows >= 1, a vector width of 1, 2, 4, 8 or 16 and positive local sizes")
            }
            guard lx * ly <= maxWorkGroupSize else { try fail("work-group \(lx)x\(ly) exceeds the device's \(maxWorkGroupSize)") }
        case .tiled(let tm, let tn, let tk, let wm, let wn):
            guard tm > 0, tn > 0, tk > 0, wm > 0, wn > 0, tm % wm == 0, tn % wn == 0 else {
                try fail("tiled GEMM tiles must be positive multiples of the work per item")
            }
            guard (tm / wm) * (tn / wn) <= maxWorkGroupSize else {
                try fail("work-group \(tn / wn)x\(tm / wm) exceeds the device's \(maxWorkGroupSize)")
            }
        }
        guard pointwiseLocal >= 1, pointwiseLocal <= maxWorkGroupSize else { try fail("pointwise work-group size out of range") }
        guard dotRows >= 1, dotColumns >= 1 else { try fail("dot-product GEMM blocking must be positive") }
        guard transposeTile >= 1 else { try fail("transpose tile must be positive") }
        guard [1, 2, 4, 8, 16].contains(pointwiseVector) else { try fail("pointwise vector width must be 1, 2, 4, 8 or 16") }
        guard channelReduceLocal >= 1, channelReduceLocal <= maxWorkGroupSize,
              channelReduceLocal & (channelReduceLocal - 1) == 0 else {
            try fail("channel reduction work-group size must be a power of two within the device's limit")
        }
        guard reducePartials >= 1, reduceLocal >= 1, reduceLocal <= maxWorkGroupSize else {
            try fail("reduction partials and work-group size must be positive and within the device's limit")
        }
    }

    public var description: String {
        let g: String
        switch gemm {
        case .blocked(let r, let v, let lx, let ly): g = "gemm=blocked rows=\(r) vw=\(v) local=\(lx)x\(ly)"
        case .tiled(let tm, let tn, let tk, let wm, let wn): g = "gemm=tiled tile=\(tm)x\(tn)x\(tk) work=\(wm)x\(wn)"
        }
        return "\(g) dot=\(dotRows)x\(dotColumns) pointwise-local=\(pointwiseLocal) pointwise-vector=\(pointwiseVector) poly-exp=\(polynomialExp) transpose-tile=\(transposeTile) channel-reduce-local=\(channelReduceLocal) reduce-partials=\(reducePartials) reduce-local=\(reduceLocal)"
            + (convolution.map { " convolution=\($0)" } ?? "")
            + (convolutions.map { " tuned-convolutions=\($0.count)" } ?? "")
    }
}
