import AtelierDevices
/// The operations a graph is made of: forward ops, and the ops their
/// gradients are built from. Each knows its output shapes (the shape rule);
/// gradient rules live in Autodiff.swift; execution in Plan.swift.
public enum GraphOp: Sendable, Hashable, CustomStringConvertible {
    /// a [m, k] x b [k, n] with optional transposes (of the stored operands).
    case matmul(transposeA: Bool, transposeB: Bool)
    /// x [N, C, H, W], w [K, C, R, S] -> [N, K, P, Q].
    case conv2d(stride: Int, padding: Int)
    /// x [N, C, H, W], w [C, K, R, S] (PyTorch's ConvTranspose2d layout)
    /// -> [N, K, (H-1)*stride - 2*padding + R + outputPadding, ...]; the
    /// output padding (below the stride) picks one of the sizes a strided
    /// convolution maps to the same H, as PyTorch's `output_padding`.
    case convTranspose2d(stride: Int, padding: Int, outputPadding: Int = 0)
    /// x [N, C, ...], b [C].
    case biasAdd
    case activation(Activation)
    /// x, gamma [C], beta [C], running mean [C], running var [C] -> y, and in
    /// training mode also the batch mean and inverse std (for the gradient).
    /// y is act(normalised x): an activation right after BatchNorm runs in
    /// the same pass (Sequential fuses them).
    case batchNorm(momentum: Float, epsilon: Float, training: Bool, activation: Activation = .identity)
    /// Same data, another shape.
    case reshape(Shape)
    /// Inputs [N, Ci, ...] joined along axis 1.
    case concatChannels
    /// Channels [start, start+count) of x [N, C, ...].
    case sliceChannels(start: Int, count: Int)
    /// prediction, target -> scalar (mean loss).
    case loss(ReduceOp)
    /// The same loss and, as a second output, the gradient of `weight` x
    /// the loss with respect to the prediction: what autodiff turns a
    /// differentiated loss into, so the forward and gradient terms are
    /// computed in one pass.
    case lossWithGradient(ReduceOp, weight: Float)
    /// prediction, target -> the gradient of `weight` x the loss with
    /// respect to the prediction alone (a loss differentiated twice, with
    /// other weights, in two phases of one graph).
    case lossGradient(ReduceOp, weight: Float)
    /// a + b, same shape.
    case add
    /// factor * x, any shape (a weighted loss term).
    case scale(Float)
    /// An op defined in one place (Ops/Definitions): shape rule, gradient
    /// and kernels come from its definition.
    case custom(CustomOp)
    /// x [N, C] -> [N, C, height, width], each value repeated over its
    /// plane: a class label as constant planes beside an image, built on
    /// the device from the one-hot labels.
    case broadcastPlanes(height: Int, width: Int)

    // Gradient building blocks.
    /// y, dy -> dx.
    case activationGradient(Activation)
    /// dy [N, K, P, Q], w -> dx [N, C, H, W] of conv2d with input `inputShape`.
    case conv2dBackwardData(stride: Int, padding: Int, inputShape: Shape)
    /// x, dy -> dw of conv2d with weight `weightShape`.
    case conv2dBackwardWeights(stride: Int, padding: Int, weightShape: Shape)
    /// dy [N, C, ...] -> [C].
    case channelSum
    /// x, dy, gamma, mean, invstd (then y, for an activation) -> dx, dgamma,
    /// dbeta; dy is the gradient of the activation's output.
    case batchNormBackward(activation: Activation = .identity)

    public var description: String {
        switch self {
        case .matmul(let ta, let tb): "matmul\(ta ? " A^T" : "")\(tb ? " B^T" : "")"
        case .conv2d(let s, let p): "conv2d s\(s) p\(p)"
        case .convTranspose2d(let s, let p, let op): "conv_transpose2d s\(s) p\(p)\(op == 0 ? "" : " op\(op)")"
        case .biasAdd: "bias_add"
        case .activation(let a): "\(a)"
        case .batchNorm(_, _, let training, let act):
            "batch_norm(\(training ? "train" : "eval"))\(act == .identity ? "" : " + \(act)")"
        case .reshape(let s): "reshape \(s)"
        case .concatChannels: "concat"
        case .sliceChannels(let start, let count): "slice [\(start), \(start + count))"
        case .loss(let op): "loss \(op)"
        case .lossWithGradient(let op, let w): "loss \(op) + grad\(w == 1 ? "" : " x\(w)")"
        case .lossGradient(let op, let w): "loss \(op) grad\(w == 1 ? "" : " x\(w)")"
        case .add: "add"
        case .scale(let f): "scale \(f)"
        case .custom(let op): op.description
        case .broadcastPlanes(let h, let w): "broadcast_planes \(h)x\(w)"
        case .activationGradient(let a): "\(a) grad"
        case .conv2dBackwardData: "conv2d grad data"
        case .conv2dBackwardWeights: "conv2d grad weights"
        case .channelSum: "channel_sum"
        case .batchNormBackward(let act): act == .identity ? "batch_norm grad" : "batch_norm + \(act) grad"
        }
    }

    /// The shape rule: output shapes from input shapes, or a ShapeError
    /// naming the op and the shapes that do not fit (each family's rules
    /// are in Ops/Builtin).
    func outputShapes(_ inputs: [Shape]) throws -> [Shape] {
        try rules.outputShapes(self, ShapeCheck(op: self, inputs: inputs))
    }

    static func convGeometry(input x: Shape, weight w: Shape, stride: Int, padding: Int) throws -> ConvGeometry {
        let g = ConvGeometry(batch: x[0], inChannels: x[1], height: x[2], width: x[3], outChannels: w[0],
                             kernelHeight: w[2], kernelWidth: w[3], strideH: stride, strideW: stride, padH: padding, padW: padding)
        try g.validate()
        return g
    }

    /// The convolution a transposed convolution is the data gradient of:
    /// its input is the transposed convolution's output.
    static func transposedGeometry(input x: Shape, weight w: Shape, stride: Int, padding: Int, outputPadding: Int = 0) throws -> ConvGeometry {
        let h = (x[2] - 1) * stride - 2 * padding + w[2] + outputPadding
        let wd = (x[3] - 1) * stride - 2 * padding + w[3] + outputPadding
        guard h > 0, wd > 0 else {
            throw ShapeError("conv_transpose2d on \(x), \(w): the output would be empty")
        }
        let g = ConvGeometry(batch: x[0], inChannels: w[1], height: h, width: wd, outChannels: w[0],
                             kernelHeight: w[2], kernelWidth: w[3], strideH: stride, strideW: stride, padH: padding, padW: padding)
        try g.validate()
        return g
    }
}
