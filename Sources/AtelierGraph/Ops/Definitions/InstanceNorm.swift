import AtelierDevices
import CAtelier
import Foundation

/// Instance normalisation (PyTorch's InstanceNorm2d, as CycleGAN uses it):
/// each (sample, channel) plane normalised by its own mean and biased
/// variance, then, when affine, scaled by gamma[c] and shifted by beta[c].
/// Inputs x [N, C, H, W] (and gamma, beta [C]); outputs y, and the planes'
/// mean and inverse std [N * C] for the gradient. Kernels: Kernels/norm.cl;
/// CPU loops: cpu_instance_norm.c.
public struct InstanceNormOp: OpDefinition {
    public let epsilon: Float
    public let affine: Bool
    public init(epsilon: Float = 1e-5, affine: Bool) {
        self.epsilon = epsilon
        self.affine = affine
    }

    public var key: String { "instance_norm \(epsilon) \(affine)" }
    public var description: String { affine ? "instance_norm (affine)" : "instance_norm" }

    public func outputShapes(_ inputs: [Shape]) throws -> [Shape] {
        guard inputs.count == (affine ? 3 : 1) else { throw ShapeError("takes x\(affine ? ", gamma and beta" : "")") }
        guard inputs[0].rank == 4 else { throw ShapeError("needs x [N, C, H, W]") }
        let (n, c) = (inputs[0][0], inputs[0][1])
        guard inputs[0][2] * inputs[0][3] >= 2 else { throw ShapeError("needs more than one value per plane") }
        if affine, inputs[1] != [c] || inputs[2] != [c] { throw ShapeError("gamma and beta must be [\(c)]") }
        return [inputs[0], [n * c], [n * c]]
    }

    public func gradients(_ graph: Graph, inputs: [Tensor], outputs: [Tensor], dy: Tensor, wanted: [Bool]) throws -> [Tensor?] {
        let backward = InstanceNormBackwardOp(affine: affine)
        let g = try graph.apply(backward, [inputs[0], dy] + (affine ? [inputs[1]] : []) + [outputs[1], outputs[2]])
        return affine ? [g[0], wanted[1] ? g[1] : nil, wanted[2] ? g[2] : nil] : [g[0]]
    }

    public func kernels(inputs: [DeviceBuffer], outputs: [DeviceBuffer], inputShapes: [Shape],
                        scratch: (Int) throws -> DeviceBuffer) throws -> [DeviceKernel] {
        let s = inputShapes[0]
        let (planes, channels, inner) = (s[0] * s[1], s[1], s[2] * s[3])
        let (gamma, beta) = affine ? (inputs[1], inputs[2]) : (inputs[0], inputs[0])  // unread without affine
        let (affine, epsilon) = (self.affine, self.epsilon)
        return [DeviceKernel(file: "norm.cl", name: "instance_norm_forward",
                             arguments: [.int(inner), .int(channels), .int(affine ? 1 : 0), .float(epsilon),
                                         .buffer(inputs[0]), .buffer(gamma), .buffer(beta), .buffer(outputs[0]),
                                         .buffer(outputs[1]), .buffer(outputs[2])],
                             global: [planes * NormKernels.workGroup], local: [NormKernels.workGroup]) { a in
            let (x, gamma, beta, y, meanOut, invstdOut) = (a.buffers[0], a.buffers[1], a.buffers[2], a.buffers[3], a.buffers[4], a.buffers[5])
            HostLoops.forEachPlane(planes, inner) { r in
                atelier_instance_norm_forward(inner, channels, affine ? 1 : 0, epsilon, x, gamma, beta, y, meanOut, invstdOut,
                                              r.lowerBound, r.upperBound)
            }
        }]
    }
}

/// The gradient of InstanceNormOp: inputs x, dy, (gamma,) mean, invstd;
/// outputs dx (and dgamma, dbeta when affine).
public struct InstanceNormBackwardOp: OpDefinition {
    public let affine: Bool
    public init(affine: Bool) { self.affine = affine }
    public var key: String { "instance_norm_backward \(affine)" }
    public var description: String { "instance_norm grad" }

    public func outputShapes(_ inputs: [Shape]) throws -> [Shape] {
        guard inputs.count == (affine ? 5 : 4), inputs[0].rank == 4, inputs[1] == inputs[0] else {
            throw ShapeError("takes x, dy\(affine ? ", gamma" : ""), mean and invstd")
        }
        let c = inputs[0][1]
        return affine ? [inputs[0], [c], [c]] : [inputs[0]]
    }

    public func gradients(_ graph: Graph, inputs: [Tensor], outputs: [Tensor], dy: Tensor, wanted: [Bool]) throws -> [Tensor?] {
        try noGradient()
    }

    public func kernels(inputs: [DeviceBuffer], outputs: [DeviceBuffer], inputShapes: [Shape],
                        scratch: (Int) throws -> DeviceBuffer) throws -> [DeviceKernel] {
        let s = inputShapes[0]
        let (samples, channels, inner) = (s[0], s[1], s[2] * s[3])
        let planes = samples * channels
        let affine = self.affine
        let (x, dy) = (inputs[0], inputs[1])
        let gamma = affine ? inputs[2] : inputs[0]
        let (mean, invstd) = affine ? (inputs[3], inputs[4]) : (inputs[2], inputs[3])
        // The planes' sums, for the parameters' gradients (written, unread, without affine).
        let sums = try scratch(2 * planes)
        var kernels = [DeviceKernel(file: "norm.cl", name: "instance_norm_backward",
                                    arguments: [.int(inner), .int(channels), .int(affine ? 1 : 0), .buffer(x), .buffer(dy),
                                                .buffer(gamma), .buffer(mean), .buffer(invstd), .buffer(outputs[0]), .buffer(sums)],
                                    global: [planes * NormKernels.workGroup], local: [NormKernels.workGroup]) { a in
            let (x, dy, gamma, mean, invstd, dx, sums) = (a.buffers[0], a.buffers[1], a.buffers[2], a.buffers[3], a.buffers[4],
                                                           a.buffers[5], a.buffers[6])
            HostLoops.forEachPlane(planes, inner) { r in
                atelier_instance_norm_backward(inner, channels, affine ? 1 : 0, x, dy, gamma, mean, invstd, dx, sums,
                                               r.lowerBound, r.upperBound)
            }
        }]
        if affine {
            kernels.append(DeviceKernel(file: "norm.cl", name: "instance_norm_parameter_gradients",
                                        arguments: [.int(samples), .int(channels), .buffer(sums), .buffer(outputs[1]), .buffer(outputs[2])],
                                        global: [channels]) { a in
                let (sums, dgamma, dbeta) = (a.buffers[0], a.buffers[1], a.buffers[2])
                for c in 0..<channels {
                    var (g, b): (Float, Float) = (0, 0)
                    for n in 0..<samples {
                        b += sums[2 * (n * channels + c)]
                        g += sums[2 * (n * channels + c) + 1]
                    }
                    dgamma[c] = g
                    dbeta[c] = b
                }
            })
        }
        return kernels
    }
}

/// What the normalisation kernels share.
enum NormKernels {
    /// Work-items per plane on OpenCL (norm.cl's NORM_WG).
    static let workGroup = 64
}
