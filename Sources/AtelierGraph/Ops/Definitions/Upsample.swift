import AtelierDevices
/// Upsampling of (N, C, H, W) images by an integer factor: nearest, or
/// bilinear with half-pixel centres (nn.Upsample(scale_factor: f,
/// align_corners: false)), a common replacement for transposed convolutions
/// against checkerboard artefacts. Kernels: Kernels/spatial.cl.
public struct UpsampleOp: OpDefinition {
    public enum Mode: String, Sendable { case nearest, bilinear }
    public let factor: Int
    public let mode: Mode

    public init(factor: Int, mode: Mode) {
        self.factor = factor
        self.mode = mode
    }

    public var key: String { "upsample \(factor) \(mode)" }
    public var description: String { "upsample x\(factor) \(mode)" }

    public func outputShapes(_ inputs: [Shape]) throws -> [Shape] {
        guard inputs.count == 1, inputs[0].rank == 4 else { throw ShapeError("needs x [N, C, H, W]") }
        guard factor >= 1 else { throw ShapeError("the factor must be at least 1") }
        return [[inputs[0][0], inputs[0][1], inputs[0][2] * factor, inputs[0][3] * factor]]
    }

    public func gradients(_ graph: Graph, inputs: [Tensor], outputs: [Tensor], dy: Tensor, wanted: [Bool]) throws -> [Tensor?] {
        [try graph.apply(UpsampleBackwardOp(upsample: self, inputShape: inputs[0].shape), [dy])[0]]
    }

    public func kernels(inputs: [DeviceBuffer], outputs: [DeviceBuffer], inputShapes: [Shape],
                        scratch: (Int) throws -> DeviceBuffer) throws -> [DeviceKernel] {
        let s = inputShapes[0]
        let (planes, h, w, f) = (s[0] * s[1], s[2], s[3], factor)
        let (ho, wo) = (h * f, w * f)
        let bilinear = mode == .bilinear
        return [DeviceKernel(file: "spatial.cl", name: "upsample_forward",
                             arguments: [.int(planes), .int(h), .int(w), .int(f), .int(bilinear ? 1 : 0), .buffer(inputs[0]), .buffer(outputs[0])],
                             global: [planes * ho * wo]) { a in
            let (x, y) = (a.buffers[0], a.buffers[1])
            // Each output row's and column's sources, once per call.
            let rows = (0..<ho).map { bilinear ? Self.source($0, f, h) : ($0 / f, $0 / f, Float(0)) }
            let cols = (0..<wo).map { bilinear ? Self.source($0, f, w) : ($0 / f, $0 / f, Float(0)) }
            HostLoops.forEachPlane(planes, ho * wo) { plane in
                let (xp, yp) = (x + plane * h * w, y + plane * ho * wo)
                for oi in 0..<ho {
                    let (r0, r1, wr) = rows[oi]
                    let (line0, line1, out) = (xp + r0 * w, xp + r1 * w, yp + oi * wo)
                    if !bilinear {
                        for oj in 0..<wo { out[oj] = line0[cols[oj].0] }
                        continue
                    }
                    for oj in 0..<wo {
                        let (c0, c1, wc) = cols[oj]
                        out[oj] = (1 - wr) * ((1 - wc) * line0[c0] + wc * line0[c1]) + wr * ((1 - wc) * line1[c0] + wc * line1[c1])
                    }
                }
            }
        }]
    }

    /// The bilinear source of output position o along an axis of n inputs:
    /// the lower and upper inputs and the upper one's weight (as spatial.cl).
    static func source(_ o: Int, _ f: Int, _ n: Int) -> (Int, Int, Float) {
        let s = max((Float(o) + 0.5) / Float(f) - 0.5, 0)
        let i0 = Int(s)
        return (i0, i0 < n - 1 ? i0 + 1 : i0, s - Float(i0))
    }

    static func weight(_ o: Int, reads s: Int, _ f: Int, _ n: Int) -> Float {
        let (lower, upper, weight) = source(o, f, n)
        return (lower == s ? 1 - weight : 0) + (upper == s ? weight : 0)
    }
}

/// The gradient of UpsampleOp: dy -> dx.
public struct UpsampleBackwardOp: OpDefinition {
    public let upsample: UpsampleOp
    public let inputShape: Shape
    public init(upsample: UpsampleOp, inputShape: Shape) {
        self.upsample = upsample
        self.inputShape = inputShape
    }
    public var key: String { "upsample_backward \(upsample.key) \(inputShape)" }
    public var description: String { "upsample \(upsample.mode) grad" }

    public func outputShapes(_ inputs: [Shape]) throws -> [Shape] {
        guard inputs.count == 1, try upsample.outputShapes([inputShape])[0] == inputs[0] else {
            throw ShapeError("needs dy of the upsampled shape")
        }
        return [inputShape]
    }

    public func gradients(_ graph: Graph, inputs: [Tensor], outputs: [Tensor], dy: Tensor, wanted: [Bool]) throws -> [Tensor?] {
        try noGradient()
    }

    public func kernels(inputs: [DeviceBuffer], outputs: [DeviceBuffer], inputShapes: [Shape],
                        scratch: (Int) throws -> DeviceBuffer) throws -> [DeviceKernel] {
        let (planes, h, w, f) = (inputShape[0] * inputShape[1], inputShape[2], inputShape[3], upsample.factor)
        let (ho, wo) = (h * f, w * f)
        let bilinear = upsample.mode == .bilinear
        return [DeviceKernel(file: "spatial.cl", name: "upsample_backward",
                             arguments: [.int(planes), .int(h), .int(w), .int(f), .int(bilinear ? 1 : 0), .buffer(inputs[0]), .buffer(outputs[0])],
                             global: [planes * h * w]) { a in
            // The outputs each input row and column feeds, with weights, once per call.
            func reach(_ s: Int, _ n: Int, _ outputs: Int) -> [(Int, Float)] {
                guard bilinear else { return (0..<f).map { (s * f + $0, Float(1)) } }
                return (max(0, (s - 1) * f)...min(outputs - 1, (s + 2) * f)).compactMap { o in
                    let weight = UpsampleOp.weight(o, reads: s, f, n)
                    return weight == 0 ? nil : (o, weight)
                }
            }
            let rows = (0..<h).map { reach($0, h, ho) }, cols = (0..<w).map { reach($0, w, wo) }
            SpatialKernels.gather(planes: planes, from: a.buffers[0], ho, wo, into: a.buffers[1], h, w, rows: rows, cols: cols)
        }]
    }
}
