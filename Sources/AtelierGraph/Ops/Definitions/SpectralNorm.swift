import AtelierDevices
/// Spectral normalisation (Miyato et al. 2018) of a weight W, seen as a
/// matrix [O, K] (O its first dimension, K the rest): W / sigma, sigma W's
/// largest singular value, estimated by one power iteration per call from
/// the vectors u [O] and v [K] the layer keeps (non-trainable parameters):
///   v = normalize(W^T u), u' = normalize(W v), sigma = u'^T W v = |W v|.
/// In training mode the op writes u' and v back, so the estimate improves
/// each step, as PyTorch's `spectral_norm` does on each forward. Outputs:
/// W / sigma, and [u', v, sigma] as that call used them, which the gradient
/// reads (the stored vectors may have moved on by then, when D runs twice
/// in a phase). The gradient treats u' and v as constants, as PyTorch's:
///   dW = (dy - <dy, W> / sigma * u' v^T) / sigma.
/// Kernels: Kernels/spectral.cl.
public struct SpectralNormOp: OpDefinition {
    /// PyTorch's `normalize` floor for a vector's length.
    public static let epsilon: Float = 1e-12
    /// Work-items of the one-group reductions (the kernels' SN_GROUP).
    static let group = 256
    /// Work-groups of the first stage of <dy, W> (partial sums).
    static let dotGroups = 64

    /// Whether the power iteration's vectors are written back (training).
    public let updatesVectors: Bool

    /// The op; `updatesVectors` in training mode.
    public init(updatesVectors: Bool) { self.updatesVectors = updatesVectors }
    public var key: String { "spectral_norm(update: \(updatesVectors))" }
    public var description: String { updatesVectors ? "spectral norm" : "spectral norm (fixed vectors)" }

    /// W's matrix shape [O, K].
    static func matrix(_ w: Shape) -> (rows: Int, columns: Int) { (w[0], w.count / w[0]) }

    public func outputShapes(_ inputs: [Shape]) throws -> [Shape] {
        guard inputs.count == 3, inputs[0].rank >= 2, inputs[0].count > 0 else {
            throw ShapeError("needs a weight of rank 2 or more and its vectors u [out] and v [rest]")
        }
        let (rows, columns) = Self.matrix(inputs[0])
        guard inputs[1] == [rows], inputs[2] == [columns] else {
            throw ShapeError("a weight \(inputs[0]) needs u [\(rows)] and v [\(columns)], got \(inputs[1]) and \(inputs[2])")
        }
        return [inputs[0], [rows + columns + 1]]
    }

    public func gradients(_ graph: Graph, inputs: [Tensor], outputs: [Tensor], dy: Tensor, wanted: [Bool]) throws -> [Tensor?] {
        guard !wanted[1] && !wanted[2] else { throw ShapeError("spectral normalisation's vectors u and v get no gradient") }
        return [wanted[0] ? try graph.apply(SpectralNormBackwardOp(), [inputs[0], outputs[1], dy])[0] : nil, nil, nil]
    }

    public func kernels(inputs: [DeviceBuffer], outputs: [DeviceBuffer], inputShapes: [Shape],
                        scratch: (Int) throws -> DeviceBuffer) throws -> [DeviceKernel] {
        let (rows, columns) = Self.matrix(inputShapes[0])
        let (w, u, v, out, vectors) = (inputs[0], inputs[1], inputs[2], outputs[0], outputs[1])
        let (t, s) = (try scratch(columns), try scratch(rows))
        let group = Self.group
        return [
            // t = W^T u: one work-item per column, reading W's rows in step (coalesced).
            DeviceKernel(file: "spectral.cl", name: "sn_transposed_product",
                         arguments: [.int(rows), .int(columns), .buffer(w), .buffer(u), .buffer(t)], global: [columns]) { a in
                let (w, u, t) = (a.buffers[0], a.buffers[1], a.buffers[2])
                // Row by row over each core's columns, so W is read in order (a column walk misses the cache).
                HostLoops.forEachPlane(columns, rows) { (range: Range<Int>) in
                    for j in range { t[j] = 0 }
                    for i in 0..<rows {
                        let (row, ui) = (w + i * columns, u[i])
                        for j in range { t[j] += row[j] * ui }
                    }
                }
            },
            // v = t / |t| into vectors[O...], and into the stored v when training.
            normalize(count: columns, at: rows, sigmaAt: nil, x: t, vectors: vectors, store: v),
            // s = W v: one work-group per row, reduced in local memory.
            DeviceKernel(file: "spectral.cl", name: "sn_product",
                         arguments: [.int(rows), .int(columns), .buffer(w), .buffer(vectors), .buffer(s)],
                         global: [rows * group], local: [group]) { a in
                let (w, v, s) = (a.buffers[0], a.buffers[1] + rows, a.buffers[2])
                HostLoops.forEachPlane(rows, columns) { i in
                    var sum = Float(0)
                    for j in 0..<columns { sum += w[i * columns + j] * v[j] }
                    s[i] = sum
                }
            },
            // u' = s / |s| into vectors[0..<O] (and the stored u), sigma = |s| last.
            normalize(count: rows, at: 0, sigmaAt: rows + columns, x: s, vectors: vectors, store: u),
            DeviceKernel(file: "spectral.cl", name: "sn_scale",
                         arguments: [.int(rows * columns), .int(rows + columns), .buffer(w), .buffer(vectors), .buffer(out)],
                         global: [rows * columns]) { a in
                let (w, sigma, out) = (a.buffers[0], a.buffers[1][rows + columns], a.buffers[2])
                HostLoops.forEachPlane(rows, columns) { i in
                    for j in 0..<columns { out[i * columns + j] = w[i * columns + j] / sigma }
                }
            },
        ]
    }

    /// vectors[at...] = x / max(|x|, eps) (and `store`, when training);
    /// vectors[sigmaAt] = |x|, floored at eps so that a zero W gives zeros,
    /// not NaN (|W v| = u'^T W v is sigma).
    func normalize(count: Int, at: Int, sigmaAt: Int?, x: DeviceBuffer, vectors: DeviceBuffer, store: DeviceBuffer) -> DeviceKernel {
        let update = updatesVectors
        return DeviceKernel(file: "spectral.cl", name: "sn_normalize",
                            arguments: [.int(count), .int(at), .int(sigmaAt ?? -1), .float(Self.epsilon), .int(update ? 1 : 0),
                                        .buffer(x), .buffer(vectors), .buffer(store)],
                            global: [Self.group], local: [Self.group]) { a in
            let (x, out, store) = (a.buffers[0], a.buffers[1], a.buffers[2])
            var squares = Float(0)
            for k in 0..<count { squares += x[k] * x[k] }
            let length = squares.squareRoot(), scale = 1 / max(length, Self.epsilon)
            for k in 0..<count {
                out[at + k] = x[k] * scale
                if update { store[k] = out[at + k] }
            }
            if let sigmaAt { out[sigmaAt] = max(length, Self.epsilon) }
        }
    }
}

/// The gradient of SpectralNormOp: (W, [u', v, sigma], dy) ->
/// dW = (dy - <dy, W> / sigma * u' v^T) / sigma.
public struct SpectralNormBackwardOp: OpDefinition {
    /// The op.
    public init() {}
    public var key: String { "spectral_norm_backward" }
    public var description: String { "spectral norm grad" }

    public func outputShapes(_ inputs: [Shape]) throws -> [Shape] {
        guard inputs.count == 3, inputs[0].rank >= 2, inputs[2] == inputs[0] else { throw ShapeError("needs W, its vectors and dy shaped as W") }
        let (rows, columns) = SpectralNormOp.matrix(inputs[0])
        guard inputs[1] == [rows + columns + 1] else { throw ShapeError("the vectors of \(inputs[0]) are [\(rows + columns + 1)], got \(inputs[1])") }
        return [inputs[0]]
    }

    public func gradients(_ graph: Graph, inputs: [Tensor], outputs: [Tensor], dy: Tensor, wanted: [Bool]) throws -> [Tensor?] {
        try noGradient()
    }

    public func kernels(inputs: [DeviceBuffer], outputs: [DeviceBuffer], inputShapes: [Shape],
                        scratch: (Int) throws -> DeviceBuffer) throws -> [DeviceKernel] {
        let (rows, columns) = SpectralNormOp.matrix(inputShapes[0])
        let count = rows * columns
        let (group, groups) = (SpectralNormOp.group, SpectralNormOp.dotGroups)
        let (partials, dot) = (try scratch(groups), try scratch(1))
        return [
            // <dy, W> in two stages: partial sums per work-group, then one group adds them.
            DeviceKernel(file: "spectral.cl", name: "sn_dot_partials",
                         arguments: [.int(count), .buffer(inputs[2]), .buffer(inputs[0]), .buffer(partials)],
                         global: [groups * group], local: [group]) { a in
                let (dy, w, partials) = (a.buffers[0], a.buffers[1], a.buffers[2])
                var sum = Float(0)
                for k in 0..<count { sum += dy[k] * w[k] }
                partials[0] = sum
                for g in 1..<groups { partials[g] = 0 }
            },
            DeviceKernel(file: "spectral.cl", name: "sn_sum",
                         arguments: [.int(groups), .buffer(partials), .buffer(dot)], global: [group], local: [group]) { a in
                var sum = Float(0)
                for g in 0..<groups { sum += a.buffers[0][g] }
                a.buffers[1][0] = sum
            },
            DeviceKernel(file: "spectral.cl", name: "sn_backward",
                         arguments: [.int(rows), .int(columns), .buffer(inputs[1]), .buffer(dot), .buffer(inputs[2]), .buffer(outputs[0])],
                         global: [count]) { a in
                let (vectors, dot, dy, dw) = (a.buffers[0], a.buffers[1][0], a.buffers[2], a.buffers[3])
                let sigma = vectors[rows + columns], scale = dot / sigma
                HostLoops.forEachPlane(rows, columns) { i in
                    for j in 0..<columns {
                        let k = i * columns + j
                        dw[k] = (dy[k] - scale * vectors[i] * vectors[rows + j]) / sigma
                    }
                }
            },
        ]
    }
}
