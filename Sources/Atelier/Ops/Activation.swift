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

    /// OpenCL C statements setting y from x and p (values of type T).
    var forwardBody: String {
        switch self {
        case .identity: "y = x;"
        case .relu: "y = fmax(x, 0.0f);"
        case .leakyRelu: "y = x > 0.0f ? x : p * x;"
        // One exp of -|x|, which never overflows, and a select: no branch,
        // so it vectorises.
        case .sigmoid: "const T e = exp(-fabs(x)); y = (x >= 0.0f ? 1.0f : e) / (1.0f + e);"
        // tanh(|x|) = (1 - e) / (1 + e) with e = exp(-2|x|): vectorised on
        // PoCL, whose tanh() and expm1() are not; absolute error ~1e-7.
        case .tanh: "const T e = exp(-2.0f * fabs(x)); y = copysign((1.0f - e) / (1.0f + e), x);"
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
        case .sigmoid: (x >= 0 ? 1 : Foundation.exp(-abs(x))) / (1 + Foundation.exp(-abs(x)))
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
