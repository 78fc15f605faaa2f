import AtelierDevices
import Foundation
/// Softmax cross-entropy of logits z [N, K] against target distributions
/// t [N, K] (one-hot labels, or any probabilities), one loss per row:
/// logsumexp(z) * sum(t) - sum(t * z), PyTorch's cross_entropy with
/// reduction='none'. A classifier's loss is the mean of the rows
/// (`.loss(.mean)`). The targets get no gradient. Kernels: Kernels/classify.cl.
public struct SoftmaxCrossEntropyOp: OpDefinition {
    /// The op.
    public init() {}
    public var key: String { "softmax_xent" }
    public var description: String { "softmax cross-entropy" }

    public func outputShapes(_ inputs: [Shape]) throws -> [Shape] {
        guard inputs.count == 2, inputs[0].rank == 2, inputs[0] == inputs[1] else {
            throw ShapeError("needs logits [N, K] and targets of the same shape")
        }
        guard inputs[0][1] >= 1 else { throw ShapeError("needs at least one class") }
        return [[inputs[0][0]]]
    }

    public func gradients(_ graph: Graph, inputs: [Tensor], outputs: [Tensor], dy: Tensor, wanted: [Bool]) throws -> [Tensor?] {
        if wanted.count > 1 && wanted[1] {
            throw ShapeError("the targets of a softmax cross-entropy must be constants (labels); \(inputs[1]) depends on what is differentiated")
        }
        return [try graph.apply(SoftmaxCrossEntropyBackwardOp(), [inputs[0], inputs[1], dy])[0], nil]
    }

    public func kernels(inputs: [DeviceBuffer], outputs: [DeviceBuffer], inputShapes: [Shape],
                        scratch: (Int) throws -> DeviceBuffer) throws -> [DeviceKernel] {
        let (rows, k) = (inputShapes[0][0], inputShapes[0][1])
        return [DeviceKernel(file: "classify.cl", name: "softmax_xent_forward",
                             arguments: [.int(rows), .int(k), .buffer(inputs[0]), .buffer(inputs[1]), .buffer(outputs[0])],
                             global: [rows]) { a in
            let (z, t, loss) = (a.buffers[0], a.buffers[1], a.buffers[2])
            HostLoops.forEachPlane(rows, k) { n in
                let (zr, tr) = (z + n * k, t + n * k)
                let lse = Self.logSumExp(zr, k)
                var (mass, dot) = (Float(0), Float(0))
                for c in 0..<k {
                    mass += tr[c]
                    dot += tr[c] * zr[c]
                }
                loss[n] = lse * mass - dot
            }
        }]
    }

    /// log(sum(exp(z))) of a row, from its largest value so nothing overflows.
    static func logSumExp(_ z: UnsafeMutablePointer<Float>, _ k: Int) -> Float {
        var top = z[0]
        for c in 1..<Swift.max(k, 1) { top = Swift.max(top, z[c]) }
        var sum = Float(0)
        for c in 0..<k { sum += Foundation.exp(z[c] - top) }
        return top + Foundation.log(sum)
    }
}

/// The gradient of SoftmaxCrossEntropyOp: (z, t, dy [N]) -> dz = dy * (softmax(z) * sum(t) - t).
public struct SoftmaxCrossEntropyBackwardOp: OpDefinition {
    /// The op.
    public init() {}
    public var key: String { "softmax_xent_backward" }
    public var description: String { "softmax cross-entropy grad" }

    public func outputShapes(_ inputs: [Shape]) throws -> [Shape] {
        guard inputs.count == 3, inputs[0].rank == 2, inputs[0] == inputs[1], inputs[2] == [inputs[0][0]] else {
            throw ShapeError("needs logits [N, K], targets [N, K] and dy [N]")
        }
        return [inputs[0]]
    }

    public func gradients(_ graph: Graph, inputs: [Tensor], outputs: [Tensor], dy: Tensor, wanted: [Bool]) throws -> [Tensor?] {
        try noGradient()
    }

    public func kernels(inputs: [DeviceBuffer], outputs: [DeviceBuffer], inputShapes: [Shape],
                        scratch: (Int) throws -> DeviceBuffer) throws -> [DeviceKernel] {
        let (rows, k) = (inputShapes[0][0], inputShapes[0][1])
        return [DeviceKernel(file: "classify.cl", name: "softmax_xent_backward",
                             arguments: [.int(rows), .int(k), .buffer(inputs[0]), .buffer(inputs[1]), .buffer(inputs[2]), .buffer(outputs[0])],
                             global: [rows]) { a in
            let (z, t, dy, dz) = (a.buffers[0], a.buffers[1], a.buffers[2], a.buffers[3])
            HostLoops.forEachPlane(rows, k) { n in
                let (zr, tr, out) = (z + n * k, t + n * k, dz + n * k)
                let lse = SoftmaxCrossEntropyOp.logSumExp(zr, k)
                var mass = Float(0)
                for c in 0..<k { mass += tr[c] }
                for c in 0..<k { out[c] = dy[n] * (Foundation.exp(zr[c] - lse) * mass - tr[c]) }
            }
        }]
    }
}
