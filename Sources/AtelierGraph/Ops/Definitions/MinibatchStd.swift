import AtelierDevices
import Foundation
/// The minibatch standard deviation feature (Karras et al. 2018, ProGAN):
/// x [N, F] gets one more column, the same for every row: m, the mean over
/// the features of each feature's standard deviation over the batch
/// (sqrt(variance + eps), the variance divided by N). A discriminator that
/// sees it can tell a batch of near-copies, the mark of mode collapse, from a
/// varied one. Kernels: Kernels/classify.cl.
public struct MinibatchStdOp: OpDefinition {
    public static let epsilon: Float = 1e-8
    /// Work-items of the one-group reductions (the kernels' STD_GROUP).
    static let group = 256

    /// The op.
    public init() {}
    public var key: String { "minibatch_std" }
    public var description: String { "minibatch std" }

    public func outputShapes(_ inputs: [Shape]) throws -> [Shape] {
        guard inputs.count == 1, inputs[0].rank == 2 else { throw ShapeError("needs x [N, F] (flatten first)") }
        guard inputs[0][0] >= 2 else { throw ShapeError("a batch of \(inputs[0][0]) has no spread; the minibatch deviation needs at least two samples") }
        return [[inputs[0][0], inputs[0][1] + 1]]
    }

    public func gradients(_ graph: Graph, inputs: [Tensor], outputs: [Tensor], dy: Tensor, wanted: [Bool]) throws -> [Tensor?] {
        [try graph.apply(MinibatchStdBackwardOp(), [inputs[0], dy])[0]]
    }

    /// The features' means and deviations (one launch), as both passes need them.
    static func statistics(rows: Int, features: Int, x: DeviceBuffer, mean: DeviceBuffer, deviation: DeviceBuffer) -> DeviceKernel {
        DeviceKernel(file: "classify.cl", name: "minibatch_std_stats",
                     arguments: [.int(rows), .int(features), .float(epsilon), .buffer(x), .buffer(mean), .buffer(deviation)],
                     global: [features]) { a in
            let (x, mean, deviation) = (a.buffers[0], a.buffers[1], a.buffers[2])
            HostLoops.forEachPlane(features, rows) { (range: Range<Int>) in
                for j in range {
                    var sum = Float(0)
                    for n in 0..<rows { sum += x[n * features + j] }
                    let mu = sum / Float(rows)
                    var squares = Float(0)
                    for n in 0..<rows { let d = x[n * features + j] - mu; squares += d * d }
                    mean[j] = mu
                    deviation[j] = (squares / Float(rows) + epsilon).squareRoot()
                }
            }
        }
    }

    public func kernels(inputs: [DeviceBuffer], outputs: [DeviceBuffer], inputShapes: [Shape],
                        scratch: (Int) throws -> DeviceBuffer) throws -> [DeviceKernel] {
        let (rows, features) = (inputShapes[0][0], inputShapes[0][1])
        let (mean, deviation, m) = (try scratch(features), try scratch(features), try scratch(1))
        let group = Self.group
        return [
            Self.statistics(rows: rows, features: features, x: inputs[0], mean: mean, deviation: deviation),
            DeviceKernel(file: "classify.cl", name: "minibatch_std_mean", arguments: [.int(features), .buffer(deviation), .buffer(m)],
                         global: [group], local: [group]) { a in
                var sum = Float(0)
                for j in 0..<features { sum += a.buffers[0][j] }
                a.buffers[1][0] = sum / Float(features)
            },
            DeviceKernel(file: "classify.cl", name: "minibatch_std_forward",
                         arguments: [.int(rows), .int(features), .buffer(inputs[0]), .buffer(m), .buffer(outputs[0])],
                         global: [rows * (features + 1)]) { a in
                let (x, m, y) = (a.buffers[0], a.buffers[1][0], a.buffers[2])
                for n in 0..<rows {
                    (y + n * (features + 1)).update(from: x + n * features, count: features)
                    y[n * (features + 1) + features] = m
                }
            },
        ]
    }
}

/// The gradient of MinibatchStdOp: (x, dy [N, F + 1]) -> dx [N, F] =
/// dy's first F columns + g (x - mean_j) / (N F s_j), g the sum of dy's last column.
public struct MinibatchStdBackwardOp: OpDefinition {
    /// The op.
    public init() {}
    public var key: String { "minibatch_std_backward" }
    public var description: String { "minibatch std grad" }

    public func outputShapes(_ inputs: [Shape]) throws -> [Shape] {
        guard inputs.count == 2, inputs[0].rank == 2, inputs[1] == [inputs[0][0], inputs[0][1] + 1] else {
            throw ShapeError("needs x [N, F] and dy [N, F + 1]")
        }
        return [inputs[0]]
    }

    public func gradients(_ graph: Graph, inputs: [Tensor], outputs: [Tensor], dy: Tensor, wanted: [Bool]) throws -> [Tensor?] {
        try noGradient()
    }

    public func kernels(inputs: [DeviceBuffer], outputs: [DeviceBuffer], inputShapes: [Shape],
                        scratch: (Int) throws -> DeviceBuffer) throws -> [DeviceKernel] {
        let (rows, features) = (inputShapes[0][0], inputShapes[0][1])
        let (mean, deviation, g) = (try scratch(features), try scratch(features), try scratch(1))
        let group = MinibatchStdOp.group
        return [
            MinibatchStdOp.statistics(rows: rows, features: features, x: inputs[0], mean: mean, deviation: deviation),
            DeviceKernel(file: "classify.cl", name: "minibatch_std_column_sum",
                         arguments: [.int(rows), .int(features), .buffer(inputs[1]), .buffer(g)], global: [group], local: [group]) { a in
                var sum = Float(0)
                for n in 0..<rows { sum += a.buffers[0][n * (features + 1) + features] }
                a.buffers[1][0] = sum
            },
            DeviceKernel(file: "classify.cl", name: "minibatch_std_backward",
                         arguments: [.int(rows), .int(features), .buffer(inputs[0]), .buffer(inputs[1]), .buffer(mean), .buffer(deviation),
                                     .buffer(g), .buffer(outputs[0])],
                         global: [rows * features]) { a in
                let (x, dy, mean, deviation, g, dx) = (a.buffers[0], a.buffers[1], a.buffers[2], a.buffers[3], a.buffers[4][0], a.buffers[5])
                let scale = g / Float(rows * features)
                HostLoops.forEachPlane(rows, features) { n in
                    for j in 0..<features {
                        dx[n * features + j] = dy[n * (features + 1) + j] + scale * (x[n * features + j] - mean[j]) / deviation[j]
                    }
                }
            },
        ]
    }
}
