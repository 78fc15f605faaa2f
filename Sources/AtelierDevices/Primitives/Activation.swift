import CAtelier
import Foundation

/// An elementwise activation: its forward formula and its gradient, written
/// once for OpenCL (named in Kernels/formulas.cl) and once for the CPU path
/// (Swift, below); the parity tests compare them.
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

    package func validate() throws {
        if case .leakyRelu(let slope) = self, !(slope > 0) {
            throw ShapeError("LeakyReLU slope must be positive, got \(slope)")
        }
    }

    /// The name of its formula in Kernels/formulas.cl: ATELIER_<NAME>(x, p)
    /// for y, ATELIER_<NAME>_GRAD(y, dy, p) for dx.
    var formula: String {
        switch self {
        case .identity: "ATELIER_IDENTITY"
        case .relu: "ATELIER_RELU"
        case .leakyRelu: "ATELIER_LEAKY_RELU"
        case .sigmoid: "ATELIER_SIGMOID"
        case .tanh: "ATELIER_TANH"
        }
    }

    /// OpenCL C statement setting y from x and p (values of type T).
    var forwardBody: String { "y = \(formula)(x, p);" }

    /// OpenCL C: dx from y, dy and p.
    var gradientExpression: String { "\(formula)_GRAD(y, dy, p)" }

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
