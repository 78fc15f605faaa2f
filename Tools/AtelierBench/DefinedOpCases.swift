import Atelier

/// The ops defined in one place (InstanceNorm, padding, upsampling, dropout)
/// at the sizes image-to-image models run them, batch 1: each checked
/// against the CPU path and timed like every other case.
extension BenchCatalogue {
    static func definedOps() -> [BenchCase] {
        var cases: [BenchCase] = []
        for (channels, side) in [(64, 128), (256, 64)] {
            let x: Shape = [1, channels, side, side]
            cases.append(defined("instance_norm \(channels)x\(side)x\(side) fwd", InstanceNormOp(affine: false), [x]))
            cases.append(instanceNormBackward(x))
            cases.append(defined("pad reflect 1 \(channels)x\(side)x\(side) fwd", PadOp(.reflect, 1), [x]))
            cases.append(defined("pad reflect 1 \(channels)x\(side)x\(side) bwd", PadBackwardOp(pad: PadOp(.reflect, 1), inputShape: x),
                                 [[1, channels, side + 2, side + 2]]))
        }
        let small: Shape = [1, 128, 64, 64]
        for mode in [UpsampleOp.Mode.nearest, .bilinear] {
            let op = UpsampleOp(factor: 2, mode: mode)
            cases.append(defined("upsample x2 \(mode) 128x64x64 fwd", op, [small]))
            cases.append(defined("upsample x2 \(mode) 128x64x64 bwd", UpsampleBackwardOp(upsample: op, inputShape: small), [[1, 128, 128, 128]]))
        }
        cases.append(defined("dropout 0.5 512x4x4", DropoutOp(probability: 0.5, salt: 1), [[1, 512, 4, 4], [2]],
                             fixed: [1: DropoutOp.seedValues(7)]))
        return cases
    }

    /// `op` on deterministic inputs of `shapes` (or `fixed` values), its
    /// first output compared; memory traffic as its work.
    static func defined(_ name: String, _ op: any OpDefinition, _ shapes: [Shape], fixed: [Int: [Float]] = [:]) -> BenchCase {
        let outputs = (try? op.outputShapes(shapes)) ?? []
        let bytes = Double((shapes + outputs).reduce(0) { $0 + $1.count } * MemoryLayout<Float>.size)
        return BenchCase(name: name, group: "defined", work: .bytes(bytes)) { backend in
            let inputs = try shapes.enumerated().map { i, s in try backend.buffer(fixed[i] ?? benchValues(s.count, seed: UInt64(20 + i))) }
            let outs = try op.outputShapes(shapes).map { try backend.buffer(count: $0.count) }
            let kernels = try op.kernels(inputs: inputs, outputs: outs, inputShapes: shapes) { try backend.buffer(count: $0) }
            return .init(run: { for k in kernels { try backend.run(k) } }, outputs: [outs[0]])
        }
    }

    /// InstanceNorm's gradient, from the statistics of a forward run.
    static func instanceNormBackward(_ x: Shape) -> BenchCase {
        let planes = x[0] * x[1]
        let bytes = Double((3 * x.count + 2 * planes) * MemoryLayout<Float>.size)
        return BenchCase(name: "instance_norm \(x[1])x\(x[2])x\(x[3]) bwd", group: "defined", work: .bytes(bytes)) { backend in
            let (xb, dy) = (try backend.buffer(benchValues(x.count, seed: 30)), try backend.buffer(benchValues(x.count, seed: 31)))
            let (y, mean, invstd) = (try backend.buffer(count: x.count), try backend.buffer(count: planes), try backend.buffer(count: planes))
            for k in try InstanceNormOp(affine: false).kernels(inputs: [xb], outputs: [y, mean, invstd], inputShapes: [x], scratch: { try backend.buffer(count: $0) }) {
                try backend.run(k)
            }
            let dx = try backend.buffer(count: x.count)
            let kernels = try InstanceNormBackwardOp(affine: false).kernels(inputs: [xb, dy, mean, invstd], outputs: [dx], inputShapes: [x, x, [planes], [planes]]) {
                try backend.buffer(count: $0)
            }
            return .init(run: { for k in kernels { try backend.run(k) } }, outputs: [dx])
        }
    }
}
