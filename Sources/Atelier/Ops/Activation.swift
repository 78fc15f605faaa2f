import CAtelier
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

    /// The activation's code in the fused C loops (catelier.h).
    var cCode: Int32 {
        switch self {
        case .identity: Int32(ATELIER_ACT_IDENTITY)
        case .relu: Int32(ATELIER_ACT_RELU)
        case .leakyRelu: Int32(ATELIER_ACT_LEAKY_RELU)
        case .sigmoid: Int32(ATELIER_ACT_SIGMOID)
        case .tanh: Int32(ATELIER_ACT_TANH)
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
        case .sigmoid: "const T e = EXP(-fabs(x)); y = (x >= 0.0f ? 1.0f : e) / (1.0f + e);"
        // tanh(|x|) = (1 - e) / (1 + e) with e = exp(-2|x|): vectorised on
        // PoCL, whose tanh() and expm1() are not; absolute error ~1e-7.
        // EXP is exp(), or a vectorisable polynomial on CPU devices
        // (Kernels/fastmath.cl).
        case .tanh: "const T e = EXP(-2.0f * fabs(x)); y = copysign((1.0f - e) / (1.0f + e), x);"
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

    /// CPU: y[i] = f(x[i]) over `range`. One loop per case, so each
    /// compiles to a straight loop rather than a switch per element.
    func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
        switch self {
        case .identity: Self.map(x, y, range) { $0 }
        case .relu: Self.map(x, y, range) { max($0, 0) }
        case .leakyRelu(let slope): Self.map(x, y, range) { $0 > 0 ? $0 : slope * $0 }
        case .sigmoid:
            Self.map(x, y, range) { x in
                let e = Foundation.exp(-abs(x))
                return (x >= 0 ? 1 : e) / (1 + e)
            }
        case .tanh:
            Self.map(x, y, range) { x in
                let e = Foundation.exp(-2 * abs(x))
                return Float(signOf: x, magnitudeOf: (1 - e) / (1 + e))
            }
        }
    }

    /// CPU: dx[i] from y[i] and dy[i] over `range`.
    func gradient(y: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
        switch self {
        case .identity: Self.zip(y, dy, dx, range) { _, dy in dy }
        case .relu: Self.zip(y, dy, dx, range) { y, dy in y > 0 ? dy : 0 }
        case .leakyRelu(let slope): Self.zip(y, dy, dx, range) { y, dy in y > 0 ? dy : slope * dy }
        case .sigmoid: Self.zip(y, dy, dx, range) { y, dy in dy * y * (1 - y) }
        case .tanh: Self.zip(y, dy, dx, range) { y, dy in dy * (1 - y * y) }
        }
    }

    @inline(__always)
    private static func map(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ range: Range<Int>,
                            _ f: (Float) -> Float) {
        for i in range { y[i] = f(x[i]) }
    }

    @inline(__always)
    private static func zip(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                            _ range: Range<Int>, _ f: (Float, Float) -> Float) {
        for i in range { out[i] = f(a[i], b[i]) }
    }
}
