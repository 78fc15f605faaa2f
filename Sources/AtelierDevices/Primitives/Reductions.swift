/// Reductions of a whole buffer to one float: sums and the mean losses.
/// Each has one per-element term; the mean ones divide by the count.
public enum ReduceOp: Sendable, Hashable, CaseIterable {
    /// sum(a)
    case sum
    /// mean(a)
    case mean
    /// mean(max(a,0) - a*b + log(1 + exp(-|a|))) for logits a and targets b:
    /// binary cross-entropy on logits, in the form that never overflows.
    case bceWithLogits
    /// mean((a - b)^2)
    case mse
    /// mean(|a - b|)
    case l1
    /// mean(max(0, 1 - a*b)) for scores a and labels b of +1 (real) or -1
    /// (fake): the hinge loss of a discriminator (a generator's hinge loss is
    /// -mean(a), a scaled mean).
    case hinge

    /// Inputs: 1 (a) or 2 (a, b).
    public var arity: Int {
        switch self {
        case .sum, .mean: 1
        case .bceWithLogits, .mse, .l1, .hinge: 2
        }
    }

    var divides: Bool { self != .sum }

    /// The name of its formula in Kernels/formulas.cl: ATELIER_<NAME>(a, b)
    /// for the term, ATELIER_<NAME>_GRAD(a, b, s) for the gradient.
    var formula: String {
        switch self {
        case .sum, .mean: "ATELIER_SUM"
        case .bceWithLogits: "ATELIER_BCE_LOGITS"
        case .mse: "ATELIER_MSE"
        case .l1: "ATELIER_L1"
        case .hinge: "ATELIER_HINGE"
        }
    }

    /// OpenCL C term in `a` and `b`.
    var expression: String { "\(formula)(a, b)" }

    @inline(__always)
    func term(_ a: Float, _ b: Float) -> Double {
        switch self {
        case .sum, .mean: Double(a)
        case .bceWithLogits: Double(max(a, 0) - a * b) + Foundation.log1p(Foundation.exp(-Double(abs(a))))
        case .mse: Double((a - b) * (a - b))
        case .l1: Double(abs(a - b))
        case .hinge: Double(max(1 - a * b, 0))
        }
    }
}

/// Per-channel sums over a (N, C, inner) layout: out[c] = scale * sum of the
/// term over every n and inner index.
public enum ChannelReduceOp: Sendable, Hashable, CaseIterable {
    /// a: bias gradients, BatchNorm's sum of dy, channel means.
    case sum
    /// (a - u)^2 with u the channel mean: variance, two-pass for accuracy.
    case centeredSquares
    /// b * (a - u) * v, with a = x, b = dy, u = mean, v = invstd: BatchNorm's
    /// sum of dy * x_hat.
    case normalizedProduct

    /// Element inputs (a, b) and per-channel inputs (u, v) this op reads.
    public var elementInputs: Int { self == .normalizedProduct ? 2 : 1 }
    public var channelInputs: Int {
        switch self {
        case .sum: 0
        case .centeredSquares: 1
        case .normalizedProduct: 2
        }
    }

    /// OpenCL C term; the CPU path's is atelier_channel_reduce in C.
    var expression: String {
        switch self {
        case .sum: "a"
        case .centeredSquares: "((a - u) * (a - u))"
        case .normalizedProduct: "(b * (a - u) * v)"
        }
    }
}

/// (outer N, channels C, inner) as in NCHW (inner = H*W) or [N, F] (inner 1).
public struct ChannelLayout: Sendable, Hashable, CustomStringConvertible {
    public var outer: Int
    public var channels: Int
    public var inner: Int

    public init(outer: Int, channels: Int, inner: Int) {
        self.outer = outer
        self.channels = channels
        self.inner = inner
    }

    public var count: Int { outer * channels * inner }
    public var perChannel: Int { outer * inner }
    public var description: String { "\(outer)x\(channels)x\(inner)" }
}

import Foundation

extension ReduceOp {
    /// The gradient of `weight` x the loss (a mean, or for `sum` a sum) with
    /// respect to its first input of `count` values, as an elementwise op;
    /// nil for `sum` and `mean`, whose gradient is a constant.
    func gradientOp(count: Int, weight: Float = 1) -> PointwiseOp? {
        let scale = gradientScale(count: count, weight: weight)
        switch self {
        case .bceWithLogits: return .bceWithLogitsGradient(scale: scale)
        case .mse: return .mseGradient(scale: scale)
        case .l1: return .l1Gradient(scale: scale)
        case .hinge: return .hingeGradient(scale: scale)
        case .sum, .mean: return nil
        }
    }

    /// OpenCL C expression of that gradient in `a`, `b` and the scale `s`
    /// (the same formulas as PointwiseOp's), for the fused loss kernel.
    var gradientExpression: String { "\(formula)_GRAD(a, b, s)" }

    /// The gradient's constant factor: weight/count for means, the weight
    /// for a sum.
    package func gradientScale(count: Int, weight: Float = 1) -> Float { divides ? weight / Float(count) : weight }
}

extension Backend {
    public func lossWithGradient(_ op: ReduceOp, inputs: [DeviceBuffer], loss: DeviceBuffer, gradient: DeviceBuffer,
                                 weight: Float) throws {
        try reduce(op, inputs: inputs, output: loss)
        try lossGradient(op, inputs: inputs, gradient: gradient, weight: weight)
    }

    /// The gradient of `weight` x the loss with respect to inputs[0].
    public func lossGradient(_ op: ReduceOp, inputs: [DeviceBuffer], gradient: DeviceBuffer, weight: Float) throws {
        guard inputs.count == op.arity, let n = inputs.first?.count, n > 0 else {
            throw ShapeError("\(op) loss gradient takes \(op.arity) non-empty inputs, got \(inputs.count)")
        }
        for input in inputs { try ShapeError.expect(input, count: n, "\(op) loss gradient input") }
        try ShapeError.expect(gradient, count: n, "\(op) loss gradient")
        if let grad = op.gradientOp(count: inputs[0].count, weight: weight) {
            try pointwise(grad, count: inputs[0].count, operands: [inputs[0], inputs[op.arity - 1], gradient])
        } else {
            try fill(gradient, with: op.gradientScale(count: inputs[0].count, weight: weight))
        }
    }
}
