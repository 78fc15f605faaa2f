import AtelierDevices
import AtelierGraph
import Foundation

/// The one seeded generator behind initialisation, noise, shuffling and
/// augmentation. Its whole state is one UInt64, saved in checkpoints so a
/// resumed run draws exactly what the uninterrupted run would have.
public struct RandomGenerator: RandomNumberGenerator, Sendable, Codable, Equatable {
    /// The whole state.
    public var state: UInt64

    /// A generator starting from `seed`.
    public init(seed: UInt64) { state = seed }

    /// SplitMix64.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 24 random bits.
    public mutating func uniform() -> Float {
        Float(next() >> 40) / Float(1 << 24)
    }

    /// Standard normal values (Box-Muller, both outputs used).
    public mutating func normal(_ count: Int, mean: Float = 0, std: Float = 1) -> [Float] {
        var out = [Float]()
        out.reserveCapacity(count + 1)
        while out.count < count {
            let u1 = Double(next() >> 11) * 0x1p-53, u2 = Double(next() >> 11) * 0x1p-53
            let r = (-2 * Foundation.log(max(u1, 1e-300))).squareRoot()
            out.append(mean + std * Float(r * Foundation.cos(2 * .pi * u2)))
            out.append(mean + std * Float(r * Foundation.sin(2 * .pi * u2)))
        }
        return Array(out.prefix(count))
    }

    /// `count` values uniform in `range`.
    public mutating func uniform(_ count: Int, in range: ClosedRange<Float>) -> [Float] {
        (0..<count).map { _ in range.lowerBound + (range.upperBound - range.lowerBound) * uniform() }
    }

    /// A permutation of 0..<n (Fisher-Yates).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        for i in stride(from: n - 1, to: 0, by: -1) {
            p.swapAt(i, Int(next() % UInt64(i + 1)))
        }
        return p
    }
}

/// How a layer's weights start.
public enum Initializer: Sendable {
    /// Uniform in +-sqrt(6 / (fanIn + fanOut)), as Keras does by default.
    case glorotUniform
    /// N(0, std), DCGAN's 0.02.
    case normal(std: Float)
    case zeros
    case ones

    func values(_ shape: Shape, fanIn: Int, fanOut: Int, rng: inout RandomGenerator) -> [Float] {
        switch self {
        case .glorotUniform:
            let limit = Float((6.0 / Double(fanIn + fanOut)).squareRoot())
            return rng.uniform(shape.count, in: -limit...limit)
        case .normal(let std): return rng.normal(shape.count, std: std)
        case .zeros: return [Float](repeating: 0, count: shape.count)
        case .ones: return [Float](repeating: 1, count: shape.count)
        }
    }
}
