import AtelierDevices
/// Every forward op with sample inputs of odd sizes, for the tests that walk
/// them all: finite-difference gradients through autodiff on the CPU path,
/// and OpenCL against the CPU path, forward and backward. An op joins by
/// adding its samples here; `GraphOp.Kind` (an exhaustive switch) makes a
/// new GraphOp case show up in the registry test until it does.
public enum OpRegistry {
    public struct Sample: Sendable {
        public let name: String
        public let kind: String
        /// The inputs' shapes, value ranges, and whether each is differentiated.
        public let inputs: [(shape: Shape, range: ClosedRange<Float>, differentiable: Bool)]
        /// Builds the op on the inputs and returns the output to check.
        public let build: @Sendable (Graph, [Tensor]) throws -> Tensor
        /// Fixed input values (a seed) instead of random ones.
        public let fixed: [Int: [Float]]

        init(_ name: String, kind: String, _ inputs: [(Shape, ClosedRange<Float>, Bool)], fixed: [Int: [Float]] = [:],
             build: @escaping @Sendable (Graph, [Tensor]) throws -> Tensor) {
            self.name = name
            self.kind = kind
            self.inputs = inputs.map { (shape: $0.0, range: $0.1, differentiable: $0.2) }
            self.fixed = fixed
            self.build = build
        }
    }

    /// `count` values in [-4, 4), evenly spaced and scrambled (37 is prime to the counts used).
    static func distinct(_ count: Int) -> [Float] { (0..<count).map { Float(($0 * 37) % count) * 8 / Float(count) - 4 } }

    /// A [rows, columns] weight of `distinct` values (input 0) and its top
    /// singular vectors u and v (inputs 1 and 2), by power iteration in Double.
    static func singularVectorsSample(rows: Int, columns: Int) -> [Int: [Float]] {
        let w = distinct(rows * columns).map(Double.init)
        var u = [Double](repeating: 1, count: rows), v = [Double](repeating: 0, count: columns)
        func normalized(_ x: [Double]) -> [Double] { let n = x.reduce(0) { $0 + $1 * $1 }.squareRoot(); return x.map { $0 / n } }
        for _ in 0..<500 {
            v = normalized((0..<columns).map { j in (0..<rows).reduce(0) { $0 + w[$1 * columns + j] * u[$1] } })
            u = normalized((0..<rows).map { i in (0..<columns).reduce(0) { $0 + w[i * columns + $1] * v[$1] } })
        }
        return [0: w.map(Float.init), 1: u.map(Float.init), 2: v.map(Float.init)]
    }

    static func x(_ shape: Shape, _ range: ClosedRange<Float> = -1...1) -> (Shape, ClosedRange<Float>, Bool) { (shape, range, true) }

    public static let samples: [Sample] = [
        Sample("matmul A B^T", kind: "matmul", [x([3, 5]), x([4, 5])]) { g, t in try g(.matmul(transposeA: false, transposeB: true), t[0], t[1]) },
        Sample("matmul A^T B", kind: "matmul", [x([5, 3]), x([5, 4])]) { g, t in try g(.matmul(transposeA: true, transposeB: false), t[0], t[1]) },
        Sample("conv2d 3x3 s2 p1", kind: "conv2d", [x([2, 3, 7, 6]), x([5, 3, 3, 3])]) { g, t in try g(.conv2d(stride: 2, padding: 1), t[0], t[1]) },
        Sample("conv_transpose2d 4x4 s2 p1", kind: "convTranspose2d", [x([2, 3, 4, 5]), x([3, 2, 4, 4])]) { g, t in
            try g(.convTranspose2d(stride: 2, padding: 1), t[0], t[1])
        },
        Sample("conv_transpose2d 3x3 s2 p1 output padding 1", kind: "convTranspose2d", [x([2, 3, 4, 5]), x([3, 2, 3, 3])]) { g, t in
            try g(.convTranspose2d(stride: 2, padding: 1, outputPadding: 1), t[0], t[1])
        },
        Sample("bias_add", kind: "biasAdd", [x([2, 3, 4, 5]), x([3])]) { g, t in try g(.biasAdd, t[0], t[1]) },
        // Each side of a kink, away from it.
        Sample("relu, positive side", kind: "activation", [x([3, 7], 0.05...1)]) { g, t in try g(.activation(.relu), t[0]) },
        Sample("leaky_relu, negative side", kind: "activation", [x([3, 7], -1...(-0.05))]) { g, t in
            try g(.activation(.leakyRelu(slope: 0.2)), t[0])
        },
        Sample("sigmoid", kind: "activation", [x([3, 7], -3...3)]) { g, t in try g(.activation(.sigmoid), t[0]) },
        Sample("tanh", kind: "activation", [x([3, 7], -3...3)]) { g, t in try g(.activation(.tanh), t[0]) },
        Sample("batch_norm (train) + relu-free", kind: "batchNorm", [x([3, 4, 3, 5]), x([4], 0.5...1.5), x([4]), (Shape([4]), 0...0, false),
                                                              (Shape([4]), 1...1, false)]) { g, t in
            try g.apply(.batchNorm(momentum: 0.1, epsilon: 1e-5, training: true), t)[0]
        },
        Sample("reshape", kind: "reshape", [x([2, 3, 4])]) { g, t in try g(.reshape([6, 4]), t[0]) },
        Sample("concat", kind: "concatChannels", [x([2, 3, 4, 5]), x([2, 2, 4, 5])]) { g, t in try g.apply(.concatChannels, t)[0] },
        Sample("slice", kind: "sliceChannels", [x([2, 5, 3, 3])]) { g, t in try g(.sliceChannels(start: 1, count: 3), t[0]) },
        Sample("add", kind: "add", [x([3, 5]), x([3, 5])]) { g, t in try g(.add, t[0], t[1]) },
        Sample("scale", kind: "scale", [x([3, 5])]) { g, t in try g(.scale(-2.5), t[0]) },
        Sample("broadcast_planes", kind: "broadcastPlanes", [x([2, 3])]) { g, t in try g(.broadcastPlanes(height: 4, width: 5), t[0]) },
        Sample("loss bce with logits, computed target", kind: "loss", [x([3, 5], -3...3), x([3, 5], 0...1)]) { g, t in
            try g(.loss(.bceWithLogits), t[0], t[1])
        },
        Sample("loss mse, computed target", kind: "loss", [x([3, 5]), x([3, 5])]) { g, t in try g(.loss(.mse), t[0], t[1]) },
        Sample("instance_norm", kind: "InstanceNormOp", [x([2, 3, 5, 7])]) { g, t in
            try g.apply(InstanceNormOp(affine: false), t)[0]
        },
        Sample("instance_norm (affine)", kind: "InstanceNormOp", [x([2, 3, 5, 7]), x([3], 0.5...1.5), x([3])]) { g, t in
            try g.apply(InstanceNormOp(affine: true), t)[0]
        },
        Sample("pad zeros (1, 2, 0, 3)", kind: "PadOp", [x([2, 3, 4, 5])]) { g, t in
            try g.apply(PadOp(.zeros, top: 1, bottom: 2, left: 0, right: 3), t)[0]
        },
        Sample("pad reflect (3, 1, 2, 3)", kind: "PadOp", [x([2, 3, 5, 4])]) { g, t in
            try g.apply(PadOp(.reflect, top: 3, bottom: 1, left: 2, right: 3), t)[0]
        },
        Sample("upsample x2 nearest", kind: "UpsampleOp", [x([2, 3, 3, 5])]) { g, t in
            try g.apply(UpsampleOp(factor: 2, mode: .nearest), t)[0]
        },
        Sample("upsample x2 bilinear", kind: "UpsampleOp", [x([2, 3, 3, 5])]) { g, t in
            try g.apply(UpsampleOp(factor: 2, mode: .bilinear), t)[0]
        },
        Sample("upsample x3 bilinear", kind: "UpsampleOp", [x([1, 2, 4, 3])]) { g, t in
            try g.apply(UpsampleOp(factor: 3, mode: .bilinear), t)[0]
        },
        Sample("dropout 0.5", kind: "DropoutOp", [x([3, 5, 7]), (Shape([2]), 0...0, false)], fixed: [1: DropoutOp.seedValues(0x1234_5678)]) { g, t in
            try g.apply(DropoutOp(probability: 0.5, salt: 3), t)[0]
        },
        // Windows that do not tile the image: the last row and column are left out. The values
        // are scrambled and far enough apart that no finite difference crosses from one maximum to another.
        Sample("maxpool 2x2", kind: "MaxPoolOp", [x([2, 3, 5, 7], -4...4)], fixed: [0: distinct(210)]) { g, t in
            try g.apply(MaxPoolOp(size: 2), t)[0]
        },
        Sample("maxpool 3x3", kind: "MaxPoolOp", [x([1, 2, 6, 7], -4...4)], fixed: [0: distinct(84)]) { g, t in
            try g.apply(MaxPoolOp(size: 3), t)[0]
        },
        // Soft targets (any distribution) check the sum(t) factor; one-hot ones are a case of them.
        Sample("softmax cross-entropy", kind: "SoftmaxCrossEntropyOp", [x([5, 7], -3...3), (Shape([5, 7]), 0...1, false)]) { g, t in
            try g.apply(SoftmaxCrossEntropyOp(), t)[0]
        },
        Sample("minibatch std", kind: "MinibatchStdOp", [x([5, 13])]) { g, t in try g.apply(MinibatchStdOp(), t)[0] },
        // u and v start at W's top singular vectors, so the power iteration each run makes moves them by
        // rounding only, and the finite differences see one function (PyTorch's gradient is exact there).
        Sample("spectral norm [5, 2, 2, 3]", kind: "SpectralNormOp",
               [x([5, 2, 2, 3], -4...4), (Shape([5]), -1...1, false), (Shape([12]), -1...1, false)],
               fixed: singularVectorsSample(rows: 5, columns: 12)) { g, t in
            try g.apply(SpectralNormOp(updatesVectors: true), t)[0]
        },
        // Store, swap, and read back what this batch stored; no gradient.
        Sample("image_pool", kind: "ImagePoolOp", [(Shape([3, 2, 3, 5]), -1...1, false), (Shape([4, 2, 3, 5]), -1...1, false),
                                                   (Shape([3, 2]), 0...0, false)], fixed: [2: [-1, 0, 2, 2, 0, -1]]) { g, t in
            try g.apply(ImagePoolOp(), t)[0]
        },
    ]

    /// The kinds the samples must cover: every forward GraphOp and every
    /// forward op definition.
    public static var kinds: Set<String> {
        Set(GraphOp.Kind.allCases.filter(\.isForward).map(\.rawValue)).subtracting(["custom"]).union(definitions)
    }

    /// The forward op definitions (Ops/Definitions).
    public static let definitions: Set<String> = ["InstanceNormOp", "PadOp", "UpsampleOp", "DropoutOp", "ImagePoolOp", "MaxPoolOp",
                                                  "SoftmaxCrossEntropyOp", "MinibatchStdOp", "SpectralNormOp"]
}

extension GraphOp {
    /// The op's case, without its parameters.
    public enum Kind: String, CaseIterable, Sendable {
        case matmul, conv2d, convTranspose2d, biasAdd, activation, batchNorm, reshape, concatChannels, sliceChannels, loss
        case lossWithGradient, lossGradient, add, scale, custom, broadcastPlanes
        case activationGradient, conv2dBackwardData, conv2dBackwardWeights, channelSum, batchNormBackward

        /// Gradient ops are checked through the forward op they differentiate.
        public var isForward: Bool {
            switch self {
            case .lossWithGradient, .lossGradient, .activationGradient, .conv2dBackwardData, .conv2dBackwardWeights, .channelSum,
                 .batchNormBackward: false
            default: true
            }
        }
    }

    public var kind: Kind {
        switch self {
        case .matmul: .matmul
        case .conv2d: .conv2d
        case .convTranspose2d: .convTranspose2d
        case .biasAdd: .biasAdd
        case .activation: .activation
        case .batchNorm: .batchNorm
        case .reshape: .reshape
        case .concatChannels: .concatChannels
        case .sliceChannels: .sliceChannels
        case .loss: .loss
        case .lossWithGradient: .lossWithGradient
        case .lossGradient: .lossGradient
        case .add: .add
        case .scale: .scale
        case .custom: .custom
        case .broadcastPlanes: .broadcastPlanes
        case .activationGradient: .activationGradient
        case .conv2dBackwardData: .conv2dBackwardData
        case .conv2dBackwardWeights: .conv2dBackwardWeights
        case .channelSum: .channelSum
        case .batchNormBackward: .batchNormBackward
        }
    }
}
