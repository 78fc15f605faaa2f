import AtelierDevices
import CAtelier
/// Padding of (N, C, H, W) images with zeros or by reflection (PyTorch's
/// ZeroPad2d and ReflectionPad2d; CycleGAN's ResNet blocks reflect by 1 and
/// its outer layers by 3). Kernels: Kernels/spatial.cl; the gradient's CPU
/// loop: cpu_pad.c.
public struct PadOp: OpDefinition {
    public enum Mode: String, Sendable { case zeros, reflect }
    public let mode: Mode
    public let top: Int, bottom: Int, left: Int, right: Int

    public init(_ mode: Mode, top: Int, bottom: Int, left: Int, right: Int) {
        self.mode = mode
        (self.top, self.bottom, self.left, self.right) = (top, bottom, left, right)
    }

    /// The same padding on every side.
    public init(_ mode: Mode, _ amount: Int) { self.init(mode, top: amount, bottom: amount, left: amount, right: amount) }

    public var key: String { "pad \(mode) \(top) \(bottom) \(left) \(right)" }
    public var description: String { "pad \(mode) (\(top), \(bottom), \(left), \(right))" }

    public func outputShapes(_ inputs: [Shape]) throws -> [Shape] {
        guard inputs.count == 1, inputs[0].rank == 4 else { throw ShapeError("needs x [N, C, H, W]") }
        guard [top, bottom, left, right].allSatisfy({ $0 >= 0 }) else { throw ShapeError("padding must not be negative") }
        let (h, w) = (inputs[0][2], inputs[0][3])
        if mode == .reflect && (max(top, bottom) >= h || max(left, right) >= w) {
            throw ShapeError("reflection padding must be smaller than the image (\(h)x\(w))")
        }
        return [[inputs[0][0], inputs[0][1], h + top + bottom, w + left + right]]
    }

    public func gradients(_ graph: Graph, inputs: [Tensor], outputs: [Tensor], dy: Tensor, wanted: [Bool]) throws -> [Tensor?] {
        [try graph.apply(PadBackwardOp(pad: self, inputShape: inputs[0].shape), [dy])[0]]
    }

    public func kernels(inputs: [DeviceBuffer], outputs: [DeviceBuffer], inputShapes: [Shape],
                        scratch: (Int) throws -> DeviceBuffer) throws -> [DeviceKernel] {
        let s = inputShapes[0]
        let (planes, h, w) = (s[0] * s[1], s[2], s[3])
        let (ho, wo) = (h + top + bottom, w + left + right)
        let pad = self
        return [DeviceKernel(file: "spatial.cl", name: "pad_forward", arguments: arguments(planes, h, w) + [.buffer(inputs[0]), .buffer(outputs[0])],
                             global: [planes * ho * wo]) { a in
            let (x, y) = (a.buffers[0], a.buffers[1])
            // Where each output row and column reads from (-1: a zero), once per call.
            let rows = (0..<ho).map { pad.source($0 - pad.top, h) }, cols = (0..<wo).map { pad.source($0 - pad.left, w) }
            HostLoops.forEachPlane(planes, ho * wo) { plane in
                let (xp, yp) = (x + plane * h * w, y + plane * ho * wo)
                for oi in 0..<ho {
                    let out = yp + oi * wo
                    guard rows[oi] >= 0 else { out.update(repeating: 0, count: wo); continue }
                    let line = xp + rows[oi] * w
                    for oj in 0..<wo { out[oj] = cols[oj] >= 0 ? line[cols[oj]] : 0 }
                }
            }
        }]
    }

    /// The input index an output at `t` (relative to the image) reads, or
    /// -1 for a zero.
    func source(_ t: Int, _ n: Int) -> Int {
        mode == .reflect ? SpatialKernels.reflect(t, n) : (t >= 0 && t < n ? t : -1)
    }

    func arguments(_ planes: Int, _ h: Int, _ w: Int) -> [DeviceKernel.Argument] {
        [.int(planes), .int(h), .int(w), .int(top), .int(bottom), .int(left), .int(right), .int(mode == .reflect ? 1 : 0)]
    }

    /// The output positions along one axis that read input position `s`.
    func sources(_ s: Int, _ n: Int, before: Int, after: Int) -> [Int] {
        var out = [s + before]
        if mode == .reflect {
            if s >= 1 && s <= before { out.append(before - s) }
            if s <= n - 2 && s > n - 2 - after { out.append(before + 2 * (n - 1) - s) }
        }
        return out
    }
}

/// The gradient of PadOp: dy -> dx, each input's sum over the outputs it was copied to.
public struct PadBackwardOp: OpDefinition {
    public let pad: PadOp
    public let inputShape: Shape
    public init(pad: PadOp, inputShape: Shape) {
        self.pad = pad
        self.inputShape = inputShape
    }
    public var key: String { "pad_backward \(pad.key) \(inputShape)" }
    public var description: String { "pad \(pad.mode) grad" }

    public func outputShapes(_ inputs: [Shape]) throws -> [Shape] {
        guard inputs.count == 1, try pad.outputShapes([inputShape])[0] == inputs[0] else {
            throw ShapeError("needs dy of the padded shape")
        }
        return [inputShape]
    }

    public func gradients(_ graph: Graph, inputs: [Tensor], outputs: [Tensor], dy: Tensor, wanted: [Bool]) throws -> [Tensor?] {
        try noGradient()
    }

    public func kernels(inputs: [DeviceBuffer], outputs: [DeviceBuffer], inputShapes: [Shape],
                        scratch: (Int) throws -> DeviceBuffer) throws -> [DeviceKernel] {
        let (planes, h, w) = (inputShape[0] * inputShape[1], inputShape[2], inputShape[3])
        let pad = self.pad
        let (ho, wo) = (h + pad.top + pad.bottom, w + pad.left + pad.right)
        return [DeviceKernel(file: "spatial.cl", name: "pad_backward", arguments: pad.arguments(planes, h, w) + [.buffer(inputs[0]), .buffer(outputs[0])],
                             global: [planes * h * w]) { a in
            let (dy, dx) = (a.buffers[0], a.buffers[1])
            HostLoops.forEachPlane(planes, h * w) { r in
                atelier_pad_backward(dy, dx, h, w, Int32(pad.top), Int32(pad.bottom), Int32(pad.left), Int32(pad.right),
                                     pad.mode == .reflect ? 1 : 0, r.lowerBound, r.upperBound)
            }
        }]
    }
}
