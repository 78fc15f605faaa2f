import AtelierDevices
/// CycleGAN's history of generated images (junyanz's ImagePool), kept on the
/// device: inputs the batch's new images [N, C, H, W], the pool [size, C, H,
/// W] (a non-trainable parameter, so checkpoints carry it) and the step's
/// plan [N, 2]: per sample, the slot whose stored image the discriminator
/// gets instead of the new one (or -1) and the slot the new image is stored
/// in (or -1). The plan depends only on random draws and how full the pool
/// is, so the host draws it (`ImagePoolPlan`) and the images never leave the
/// device. The op writes the pool in place, sample after sample.
/// Kernel: Kernels/pool.cl.
public struct ImagePoolOp: OpDefinition {
    public init() {}

    public var key: String { "image_pool" }
    public var description: String { "image_pool" }

    public func outputShapes(_ inputs: [Shape]) throws -> [Shape] {
        guard inputs.count == 3, inputs[0].rank == 4, inputs[1].rank == 4 else {
            throw ShapeError("takes images [N, C, H, W], the pool [size, C, H, W] and the plan [N, 2]")
        }
        guard Array(inputs[0].dims.dropFirst()) == Array(inputs[1].dims.dropFirst()) else {
            throw ShapeError("pool images \(inputs[1]) do not match the images \(inputs[0])")
        }
        guard inputs[2] == [inputs[0][0], 2] else { throw ShapeError("the plan must be [\(inputs[0][0]), 2], got \(inputs[2])") }
        return [inputs[0]]
    }

    public func gradients(_ graph: Graph, inputs: [Tensor], outputs: [Tensor], dy: Tensor, wanted: [Bool]) throws -> [Tensor?] {
        throw ShapeError("the image pool passes no gradient: it feeds a discriminator's phase, where generated images are constants")
    }

    public func kernels(inputs: [DeviceBuffer], outputs: [DeviceBuffer], inputShapes: [Shape],
                        scratch: (Int) throws -> DeviceBuffer) throws -> [DeviceKernel] {
        let samples = inputShapes[0][0], per = inputShapes[0].count / samples
        return [DeviceKernel(file: "pool.cl", name: "image_pool",
                             arguments: [.int(samples), .int(per), .buffer(inputs[2]), .buffer(inputs[0]), .buffer(inputs[1]), .buffer(outputs[0])],
                             global: [per]) { a in
            let (plan, images, pool, out) = (a.buffers[0], a.buffers[1], a.buffers[2], a.buffers[3])
            for n in 0..<samples {
                let (source, target) = (Int(plan[2 * n]), Int(plan[2 * n + 1]))
                for i in 0..<per {
                    let v = images[n * per + i]
                    out[n * per + i] = source >= 0 ? pool[source * per + i] : v
                    if target >= 0 { pool[target * per + i] = v }
                }
            }
        }]
    }
}
