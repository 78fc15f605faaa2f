import AtelierDevices
import AtelierGraph
import Foundation

/// Spectral normalisation of a layer's weight (Miyato et al. 2018), the
/// discriminator remedy `--spectral-norm` turns on: the layer computes with
/// W / sigma(W), so no layer can amplify its input by more than 1 and D
/// stays smooth. The power iteration's vectors are the layer's
/// non-trainable `weight_u` [out] and `weight_v` [rest], named as PyTorch's
/// `spectral_norm` names them, so checkpoints carry them and a resumed run
/// goes on with the same estimate.
enum SpectralNorm {
    /// Power iterations run on the host when the vectors are made, so the
    /// first step's sigma is already close (PyTorch's parametrization runs 15).
    static let warmUpIterations = 15

    /// u and v for `weight`, from a fixed seed (so turning the remedy on
    /// does not change the weights' own draws), after the warm-up iterations.
    static func vectors(for weight: Parameter) -> (u: Parameter, v: Parameter) {
        let rows = weight.shape[0], columns = weight.shape.count / rows
        let w = weight.initial
        var rng = RandomGenerator(seed: 0x5EC7_0000 &+ UInt64(rows) &* 65_537 &+ UInt64(columns))
        var u = normalized(rng.normal(rows)), v = [Float](repeating: 0, count: columns)
        for _ in 0..<warmUpIterations {
            var t = [Float](repeating: 0, count: columns)
            for i in 0..<rows { for j in 0..<columns { t[j] += w[i * columns + j] * u[i] } }
            v = normalized(t)
            u = normalized((0..<rows).map { i in (0..<columns).reduce(Float(0)) { $0 + w[i * columns + $1] * v[$1] } })
        }
        return (Parameter(name: "weight_u", shape: [rows], trainable: false, initial: u),
                Parameter(name: "weight_v", shape: [columns], trainable: false, initial: v))
    }

    static func normalized(_ x: [Float]) -> [Float] {
        let length = max(x.reduce(0) { $0 + $1 * $1 }.squareRoot(), SpectralNormOp.epsilon)
        return x.map { $0 / length }
    }

    /// The weight a layer computes with: W itself, or W / sigma when it has the vectors.
    static func weight(_ weight: Parameter, u: Parameter?, v: Parameter?, _ c: ForwardContext) throws -> Tensor {
        let g = c.graph
        guard let u, let v else { return g.parameter(weight) }
        return try g.apply(SpectralNormOp(updatesVectors: c.training), [g.parameter(weight), g.parameter(u), g.parameter(v)])[0]
    }
}

/// A layer whose weight can be spectrally normalised (Dense, Conv2D).
protocol SpectrallyNormalizable: AnyObject {
    var weight: Parameter { get }
    var weightU: Parameter? { get set }
    var weightV: Parameter? { get set }
}

extension Module {
    /// Spectrally normalises the weight of every Dense and Conv2D layer in
    /// this module and below; returns how many layers that was.
    @discardableResult
    public func normalizeSpectrally() -> Int {
        var count = 0
        func visit(_ value: Any) {
            switch value {
            case let layer as SpectrallyNormalizable & Module:
                if layer.weightU == nil {
                    (layer.weightU, layer.weightV) = SpectralNorm.vectors(for: layer.weight)
                    count += 1
                }
            case let m as Module: children(of: m).forEach(visit)
            case let list as [Module]: list.forEach(visit)
            default: break
            }
        }
        func children(of m: Module) -> [Any] {
            var found: [Any] = []
            var mirror: Mirror? = Mirror(reflecting: m)
            while let current = mirror {
                found += current.children.map(\.value)
                mirror = current.superclassMirror
            }
            return found
        }
        visit(self)
        return count
    }
}
