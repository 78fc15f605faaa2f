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
            SpatialKernels.forEachElement(planes * ho * wo) { i in
                let (oj, oi, plane) = (i % wo, (i / wo) % ho, i / (wo * ho))
                let xp = x + plane * h * w
                guard bilinear else { y[i] = xp[(oi / f) * w + oj / f]; return }
                let (r0, r1, wr) = Self.source(oi, f, h), (c0, c1, wc) = Self.source(oj, f, w)
                y[i] = (1 - wr) * ((1 - wc) * xp[r0 * w + c0] + wc * xp[r0 * w + c1])
                    + wr * ((1 - wc) * xp[r1 * w + c0] + wc * xp[r1 * w + c1])
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
            let (dy, dx) = (a.buffers[0], a.buffers[1])
            SpatialKernels.forEachElement(planes * h * w) { i in
                let (sj, si, plane) = (i % w, (i / w) % h, i / (w * h))
                let gp = dy + plane * ho * wo
                var sum: Float = 0
                if !bilinear {
                    for a in 0..<f { for b in 0..<f { sum += gp[(si * f + a) * wo + sj * f + b] } }
                    dx[i] = sum
                    return
                }
                for oi in max(0, (si - 1) * f)...min(ho - 1, (si + 2) * f) {
                    let wr = UpsampleOp.weight(oi, reads: si, f, h)
                    if wr == 0 { continue }
                    var row: Float = 0
                    for oj in max(0, (sj - 1) * f)...min(wo - 1, (sj + 2) * f) { row += UpsampleOp.weight(oj, reads: sj, f, w) * gp[oi * wo + oj] }
                    sum += wr * row
                }
                dx[i] = sum
            }
        }]
    }
}
