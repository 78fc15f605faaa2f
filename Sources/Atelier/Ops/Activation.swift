import Foundation

/// An elementwise activation: its forward formula and its gradient, written
/// once for OpenCL (C expressions) and once for the CPU path (Swift), side by
/// side so the two cannot drift apart unnoticed; the tests compare them.
///
/// Every gradient is expressed through the output y, so a graph can free the
/// input after the forward pass.
public enum Activation: Sendable, Hashable, CustomStringConvertible {
    case identity
    case relu
    /// max(x, slope*x) for x < 0; slope must be positive so y keeps x's sign.
    case leakyRelu(slope: Float)
    case sigmoid
    case tanh

    public var description: String {
        switch self {
        case .identity: "identity"
        case .relu: "relu"
        case .leakyRelu(let slope): "leaky_relu(\(slope))"
        case .sigmoid: "sigmoid"
        case .tanh: "tanh"
        }
    }

    /// The scalar parameter the formulas use as `p` (0 when unused).
    var parameter: Float {
        if case .leakyRelu(let slope) = self { return slope }
        return 0
    }

    func validate() throws {
        if case .leakyRelu(let slope) = self, !(slope > 0) {
            throw ShapeError("LeakyReLU slope must be positive, got \(slope)")
        }
    }

    /// OpenCL C: y from x and p.
    var forwardExpression: String {
        switch self {
        case .identity: "x"
        case .relu: "fmax(x, 0.0f)"
        case .leakyRelu: "(x > 0.0f ? x : p * x)"
        // The branch keeps exp() from overflowing for large |x|.
        case .sigmoid: "(x >= 0.0f ? 1.0f / (1.0f + exp(-x)) : exp(x) / (1.0f + exp(x)))"
        case .tanh: "tanh(x)"
        }
    }

    /// OpenCL C: dx from y, dy and p.
    var gradientExpression: String {
        switch self {
        case .identity: "dy"
        case .relu: "(y > 0.0f ? dy : 0.0f)"
        case .leakyRelu: "(y > 0.0f ? dy : p * dy)"
        case .sigmoid: "(dy * y * (1.0f - y))"
        case .tanh: "(dy * (1.0f - y * y))"
        }
    }

    @inline(__always)
    func forward(_ x: Float) -> Float {
        switch self {
        case .identity: x
        case .relu: max(x, 0)
        case .leakyRelu(let slope): x > 0 ? x : slope * x
        case .sigmoid: x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
        case .tanh: Foundation.tanh(x)
        }
    }

    @inline(__always)
    func gradient(y: Float, dy: Float) -> Float {
        switch self {
        case .identity: dy
        case .relu: y > 0 ? dy : 0
        case .leakyRelu(let slope): y > 0 ? dy : slope * dy
        case .sigmoid: dy * y * (1 - y)
        case .tanh: dy * (1 - y * y)
        }
    }
}
