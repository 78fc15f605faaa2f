import CAtelier
import Foundation

/// An elementwise activation: its forward formula and its gradient, written
/// once for OpenCL (Kernels/formulas.cl) and once for the CPU path (C,
/// Sources/CAtelier/cpu_activation.h, which the fused loops and the plain
/// elementwise ops share); the parity tests compare the two.
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

    /// CPU: y[i] = f(x[i]) over `range`, by the C formulas of the fused
    /// loops (cpu_activation.h), so the CPU path has one copy of them.
    func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
        let n = range.count
        guard n > 0 else { return }
        let out = y + range.lowerBound
        if UnsafePointer(out) != x + range.lowerBound { out.update(from: x + range.lowerBound, count: n) }
        atelier_epilogue(1, n, 1, n, out, nil, cCode, parameter, nil)
    }

    /// CPU: dx[i] from y[i] and dy[i] over `range` (the same C formulas).
    func gradient(y: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
        let n = range.count
        guard n > 0 else { return }
        let out = dx + range.lowerBound
        if UnsafePointer(out) != dy + range.lowerBound { out.update(from: dy + range.lowerBound, count: n) }
        atelier_epilogue(1, n, 1, n, out, nil, cCode, parameter, y + range.lowerBound)
    }
}
