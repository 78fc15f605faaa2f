import AtelierDevices
/// Max pooling of (N, C, H, W) images over size x size windows with stride
/// size (PyTorch's MaxPool2d(size)), the classifier's downsampling: rows and
/// columns past the last whole window are left out, and a tie goes to the
/// first maximum in row-major order, which alone gets the gradient.
/// Kernels: Kernels/spatial.cl.
public struct MaxPoolOp: OpDefinition {
    public let size: Int

    /// Pooling over `size` x `size` windows.
    public init(size: Int) { self.size = size }

    public var key: String { "maxpool \(size)" }
    public var description: String { "maxpool \(size)x\(size)" }

    public func outputShapes(_ inputs: [Shape]) throws -> [Shape] {
        guard inputs.count == 1, inputs[0].rank == 4 else { throw ShapeError("needs x [N, C, H, W]") }
        guard size >= 1 else { throw ShapeError("the window must be at least 1 pixel") }
        guard inputs[0][2] >= size, inputs[0][3] >= size else {
            throw ShapeError("a \(inputs[0][2])x\(inputs[0][3]) image holds no \(size)x\(size) window")
        }
        return [[inputs[0][0], inputs[0][1], inputs[0][2] / size, inputs[0][3] / size]]
    }

    public func gradients(_ graph: Graph, inputs: [Tensor], outputs: [Tensor], dy: Tensor, wanted: [Bool]) throws -> [Tensor?] {
        [try graph.apply(MaxPoolBackwardOp(size: size), [inputs[0], dy])[0]]
    }

    public func kernels(inputs: [DeviceBuffer], outputs: [DeviceBuffer], inputShapes: [Shape],
                        scratch: (Int) throws -> DeviceBuffer) throws -> [DeviceKernel] {
        let s = inputShapes[0]
        let (planes, h, w, k) = (s[0] * s[1], s[2], s[3], size)
        let (ho, wo) = (h / k, w / k)
        return [DeviceKernel(file: "spatial.cl", name: "maxpool_forward",
                             arguments: [.int(planes), .int(h), .int(w), .int(k), .buffer(inputs[0]), .buffer(outputs[0])],
                             global: [planes * ho * wo]) { a in
            let (x, y) = (a.buffers[0], a.buffers[1])
            HostLoops.forEachPlane(planes, h * w) { plane in
                let (xp, yp) = (x + plane * h * w, y + plane * ho * wo)
                for oi in 0..<ho {
                    for oj in 0..<wo {
                        let window = xp + oi * k * w + oj * k
                        var best = window[0]
                        for r in 0..<k { for c in 0..<k { best = Swift.max(best, window[r * w + c]) } }
                        yp[oi * wo + oj] = best
                    }
                }
            }
        }]
    }
}

/// The gradient of MaxPoolOp: (x, dy) -> dx, dy sent to each window's
/// first maximum.
public struct MaxPoolBackwardOp: OpDefinition {
    public let size: Int
    /// The gradient of pooling over `size` x `size` windows.
    public init(size: Int) { self.size = size }
    public var key: String { "maxpool_backward \(size)" }
    public var description: String { "maxpool \(size)x\(size) grad" }

    public func outputShapes(_ inputs: [Shape]) throws -> [Shape] {
        guard inputs.count == 2, try MaxPoolOp(size: size).outputShapes([inputs[0]])[0] == inputs[1] else {
            throw ShapeError("needs x and dy of the pooled shape")
        }
        return [inputs[0]]
    }

    public func gradients(_ graph: Graph, inputs: [Tensor], outputs: [Tensor], dy: Tensor, wanted: [Bool]) throws -> [Tensor?] {
        try noGradient()
    }

    public func kernels(inputs: [DeviceBuffer], outputs: [DeviceBuffer], inputShapes: [Shape],
                        scratch: (Int) throws -> DeviceBuffer) throws -> [DeviceKernel] {
        let s = inputShapes[0]
        let (planes, h, w, k) = (s[0] * s[1], s[2], s[3], size)
        let (ho, wo) = (h / k, w / k)
        return [DeviceKernel(file: "spatial.cl", name: "maxpool_backward",
                             arguments: [.int(planes), .int(h), .int(w), .int(k), .buffer(inputs[0]), .buffer(inputs[1]), .buffer(outputs[0])],
                             global: [planes * h * w]) { a in
            let (x, dy, dx) = (a.buffers[0], a.buffers[1], a.buffers[2])
            HostLoops.forEachPlane(planes, h * w) { plane in
                let (xp, dyp, dxp) = (x + plane * h * w, dy + plane * ho * wo, dx + plane * h * w)
                dxp.update(repeating: 0, count: h * w)
                for oi in 0..<ho {
                    for oj in 0..<wo {
                        let first = oi * k * w + oj * k
                        var best = xp[first], at = first
                        for r in 0..<k {
                            for c in 0..<k where xp[first + r * w + c] > best {
                                best = xp[first + r * w + c]
                                at = first + r * w + c
                            }
                        }
                        dxp[at] = dyp[oi * wo + oj]
                    }
                }
            }
        }]
    }
}
