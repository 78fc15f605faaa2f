import Atelier

/// One thing to time: a kernel or composite op at one shape.
struct BenchCase {
    enum Work {
        case flops(Double)
        case bytes(Double)
    }

    /// A run closure and the buffers whose contents the check compares.
    struct Prepared {
        let run: () throws -> Void
        let outputs: [DeviceBuffer]
    }

    let name: String
    let group: String
    let work: Work
    /// The pass and shape of a convolution case (`--tune` keys its choice by them).
    var convolution: (pass: ConvPass, geometry: ConvGeometry)? = nil
    let prepare: (Backend) throws -> Prepared
}

/// Deterministic inputs, the same on every backend so results can be compared.
func benchValues(_ count: Int, seed: UInt64, range: ClosedRange<Float> = -1...1) -> [Float] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    let width = range.upperBound - range.lowerBound
    return (0..<count).map { _ in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return range.lowerBound + width * Float(state >> 40) / Float(1 << 24)
    }
}

enum BenchCatalogue {
    static func all(batches: [Int]) -> [BenchCase] {
        var cases = squareGemms()
        for b in batches { cases += ganLayers(batch: b) + dcganLayers(batch: b) }
        cases += cycleganLayers(size: 64) + cycleganLayers(size: 128)
        cases += elementwise(count: 1 << 20)
        for b in batches {
            cases += dcganNormalisation(batch: b, channels: 64, side: 14)  // G's second
            cases += dcganNormalisation(batch: b, channels: 128, side: 7)  // D's
        }
        return cases + definedOps()
    }

    static func gemm(_ name: String, _ s: GemmShape, group: String = "gemm") -> BenchCase {
        BenchCase(name: name, group: group, work: .flops(s.flops)) { backend in
            let a = try backend.buffer(benchValues(s.aCount, seed: 1))
            let b = try backend.buffer(benchValues(s.bCount, seed: 2))
            let c = try backend.buffer(count: s.cCount)
            return .init(run: { try backend.gemm(s, a: a, b: b, c: c) }, outputs: [c])
        }
    }

    static func squareGemms() -> [BenchCase] {
        [256, 512, 1024].map { n in gemm("gemm \(n)^3", GemmShape(m: n, n: n, k: n)) } + [
            gemm("gemm 1024^3 A^T", GemmShape(m: 1024, n: 1024, k: 1024, transposeA: true)),
            gemm("gemm 1024^3 B^T", GemmShape(m: 1024, n: 1024, k: 1024, transposeB: true)),
        ]
    }

    /// A Dense layer y = x W^T (PyTorch's weight layout): forward, data and
    /// weight gradients.
    static func dense(_ model: String, _ layer: String, batch: Int, inputs: Int, outputs: Int) -> [BenchCase] {
        let forward = GemmShape(m: batch, n: outputs, k: inputs, transposeB: true)
        let tag = "\(model) \(layer) b\(batch)"
        return [
            gemm("\(tag) fwd", forward, group: "dense"),
            gemm("\(tag) bwd-data", forward.gradientA().shape, group: "dense"),
            gemm("\(tag) bwd-weights", forward.gradientB().shape, group: "dense"),
        ]
    }

    /// A convolution's three passes. For a transposed convolution pass the
    /// geometry of the convolution it transposes: its forward pass is that
    /// convolution's backward-data pass.
    static func conv(_ model: String, _ layer: String, _ g: ConvGeometry, transposed: Bool = false) -> [BenchCase] {
        let tag = "\(model) \(layer) b\(g.batch)"
        let x = { (b: Backend) in try b.buffer(benchValues(g.inputCount, seed: 3)) }
        let w = { (b: Backend) in try b.buffer(benchValues(g.weightCount, seed: 4, range: -0.1...0.1)) }
        let y = { (b: Backend) in try b.buffer(benchValues(g.outputCount, seed: 5)) }
        let forward = BenchCase(name: "\(tag) \(transposed ? "bwd-data" : "fwd")", group: "conv", work: .flops(g.flops),
                                convolution: (.forward, g)) { b in
            let (xb, wb, out) = (try x(b), try w(b), try b.buffer(count: g.outputCount))
            return .init(run: { try b.convolutionForward(g, input: xb, weight: wb, output: out) }, outputs: [out])
        }
        let data = BenchCase(name: "\(tag) \(transposed ? "fwd" : "bwd-data")", group: "conv", work: .flops(g.flops),
                             convolution: (.backwardData, g)) { b in
            let (dy, wb, dx) = (try y(b), try w(b), try b.buffer(count: g.inputCount))
            return .init(run: { try b.convolutionBackwardData(g, outputGradient: dy, weight: wb, inputGradient: dx) }, outputs: [dx])
        }
        let weights = BenchCase(name: "\(tag) bwd-weights", group: "conv", work: .flops(g.flops),
                                convolution: (.backwardWeights, g)) { b in
            let (xb, dy, dw) = (try x(b), try y(b), try b.buffer(count: g.weightCount))
            return .init(run: { try b.convolutionBackwardWeights(g, input: xb, outputGradient: dy, weightGradient: dw) }, outputs: [dw])
        }
        return transposed ? [data, forward, weights] : [forward, data, weights]
    }

    /// CycleGAN's generator layers that take most of its step, at batch 1 as
    /// it trains: a residual block's 3x3 convolution (its input reflection-
    /// padded by the graph, so no padding of its own) and the 7x7 first and
    /// last layers (the same).
    static func cycleganLayers(size: Int) -> [BenchCase] {
        let inner = size / 4
        return conv("cyclegan\(size)", "G.res 256->256 3x3", ConvGeometry(batch: 1, inChannels: 256, height: inner + 2, width: inner + 2,
                                                                          outChannels: 256, kernel: 3))
            + conv("cyclegan\(size)", "G.first 3->64 7x7", ConvGeometry(batch: 1, inChannels: 3, height: size + 6, width: size + 6,
                                                                        outChannels: 64, kernel: 7))
            + conv("cyclegan\(size)", "G.last 64->3 7x7", ConvGeometry(batch: 1, inChannels: 64, height: size + 6, width: size + 6,
                                                                       outChannels: 3, kernel: 7))
    }

    /// The reference article's GAN ("gan"): an MLP generator and a small
    /// convolutional discriminator on 28x28x1.
    static func ganLayers(batch b: Int) -> [BenchCase] {
        dense("gan", "G.dense1 100->256", batch: b, inputs: 100, outputs: 256)
            + dense("gan", "G.dense2 256->512", batch: b, inputs: 256, outputs: 512)
            + dense("gan", "G.dense3 512->1024", batch: b, inputs: 512, outputs: 1024)
            + dense("gan", "G.dense4 1024->784", batch: b, inputs: 1024, outputs: 784)
            + conv("gan", "D.conv1 1->32 3x3s2", ConvGeometry(batch: b, inChannels: 1, height: 28, width: 28, outChannels: 32, kernel: 3, stride: 2))
            + conv("gan", "D.conv2 32->64 3x3s2", ConvGeometry(batch: b, inChannels: 32, height: 13, width: 13, outChannels: 64, kernel: 3, stride: 2))
            + dense("gan", "D.dense1 2304->1024", batch: b, inputs: 2304, outputs: 1024)
            + dense("gan", "D.dense2 1024->1", batch: b, inputs: 1024, outputs: 1)
    }

    static func dcganLayers(batch b: Int) -> [BenchCase] {
        dense("dcgan", "G.dense 100->6272", batch: b, inputs: 100, outputs: 6272)
            + conv("dcgan", "G.convT1 128->64 4x4s2", ConvGeometry(batch: b, inChannels: 64, height: 14, width: 14, outChannels: 128, kernel: 4, stride: 2, padding: 1), transposed: true)
            + conv("dcgan", "G.convT2 64->1 4x4s2", ConvGeometry(batch: b, inChannels: 1, height: 28, width: 28, outChannels: 64, kernel: 4, stride: 2, padding: 1), transposed: true)
            + conv("dcgan", "D.conv1 1->64 4x4s2", ConvGeometry(batch: b, inChannels: 1, height: 28, width: 28, outChannels: 64, kernel: 4, stride: 2, padding: 1))
            + conv("dcgan", "D.conv2 64->128 4x4s2", ConvGeometry(batch: b, inChannels: 64, height: 14, width: 14, outChannels: 128, kernel: 4, stride: 2, padding: 1))
            + dense("dcgan", "D.dense 6272->1", batch: b, inputs: 6272, outputs: 1)
    }

    static func pointwise(_ name: String, _ op: PointwiseOp, layout: ChannelLayout, group: String = "pointwise") -> BenchCase {
        let sig = op.signature
        let bytes = sig.operands.reduce(0.0) { total, operand in
            let count = Double(operand.role == .perChannel ? layout.channels : layout.count)
            return total + count * 4 * (operand.role == .inOut ? 2 : 1)
        }
        return BenchCase(name: name, group: group, work: .bytes(bytes)) { b in
            var seed: UInt64 = 10
            let operands = try sig.operands.map { operand -> DeviceBuffer in
                seed += 1
                let count = operand.role == .perChannel ? layout.channels : layout.count
                let positive = ["var", "rvar", "invstd", "v"].contains(operand.name)
                return try b.buffer(benchValues(count, seed: seed, range: positive ? 0.1...2 : -3...3))
            }
            let outputs = zip(sig.operands, operands).filter { $0.0.role == .output }.map(\.1)
            // In-out operands change every run, so only outputs are compared.
            return .init(run: { try b.pointwise(op, layout: layout, operands: operands) }, outputs: outputs)
        }
    }

    static func elementwise(count n: Int) -> [BenchCase] {
        let flat = ChannelLayout(outer: 1, channels: 1, inner: n)
        let tag = "\(n >> 20)M"
        var cases: [BenchCase] = [
            pointwise("relu fwd \(tag)", .activation(.relu), layout: flat),
            pointwise("leaky_relu fwd \(tag)", .activation(.leakyRelu(slope: 0.2)), layout: flat),
            pointwise("sigmoid fwd \(tag)", .activation(.sigmoid), layout: flat),
            pointwise("tanh fwd \(tag)", .activation(.tanh), layout: flat),
            pointwise("relu grad \(tag)", .activationGradient(.relu), layout: flat),
            pointwise("leaky_relu grad \(tag)", .activationGradient(.leakyRelu(slope: 0.2)), layout: flat),
            pointwise("sigmoid grad \(tag)", .activationGradient(.sigmoid), layout: flat),
            pointwise("tanh grad \(tag)", .activationGradient(.tanh), layout: flat),
            pointwise("bias add \(tag) (64 ch)", .biasAdd, layout: ChannelLayout(outer: n / (64 * 196), channels: 64, inner: 196)),
            pointwise("bce grad \(tag)", .bceWithLogitsGradient(scale: 1 / Float(n)), layout: flat),
            pointwise("adam \(tag)", .adam(AdamStep(step: 10)), layout: flat, group: "adam"),
        ]
        for op in ReduceOp.allCases {
            cases.append(BenchCase(name: "reduce \(op) \(tag)", group: "reduce", work: .bytes(Double(n * 4 * op.arity))) { b in
                let inputs = try (0..<op.arity).map { try b.buffer(benchValues(n, seed: 20 + UInt64($0), range: 0...1)) }
                let out = try b.buffer(count: 1)
                return .init(run: { try b.reduce(op, inputs: inputs, output: out) }, outputs: [out])
            })
        }
        return cases
    }

    /// BatchNorm on one of DCGAN's normalised activations, (b, channels, side, side): G's second
    /// (64 x 14 x 14, the largest) and D's (128 x 7 x 7, runs of 49 floats).
    static func dcganNormalisation(batch b: Int, channels: Int, side: Int) -> [BenchCase] {
        let layout = ChannelLayout(outer: b, channels: channels, inner: side * side)
        let shape = "\(channels)x\(side)x\(side) b\(b)"
        let bytes = Double(layout.count * 4)
        let forward = BenchCase(name: "dcgan BN \(shape) fwd", group: "batchnorm", work: .bytes(4 * bytes)) { be in
            let x = try be.buffer(benchValues(layout.count, seed: 30))
            let state = BatchNormState(gamma: try be.buffer(benchValues(channels, seed: 31, range: 0.5...1.5)),
                                       beta: try be.buffer(benchValues(channels, seed: 32)),
                                       runningMean: try be.buffer([Float](repeating: 0, count: channels)),
                                       runningVar: try be.buffer([Float](repeating: 1, count: channels)))
            let y = try be.buffer(count: layout.count)
            return .init(run: { _ = try be.batchNormForwardTraining(layout: layout, input: x, state: state, output: y) }, outputs: [y])
        }
        let backward = BenchCase(name: "dcgan BN \(shape) bwd", group: "batchnorm", work: .bytes(5 * bytes)) { be in
            let x = try be.buffer(benchValues(layout.count, seed: 30))
            let dy = try be.buffer(benchValues(layout.count, seed: 33))
            let gamma = try be.buffer(benchValues(channels, seed: 31, range: 0.5...1.5))
            let saved = BatchNormSaved(mean: try be.buffer(benchValues(channels, seed: 34, range: -0.1...0.1)),
                                       invStd: try be.buffer(benchValues(channels, seed: 35, range: 0.5...2)))
            let dx = try be.buffer(count: layout.count), dg = try be.buffer(count: channels), db = try be.buffer(count: channels)
            return .init(run: {
                try be.batchNormBackward(layout: layout, input: x, outputGradient: dy, gamma: gamma, saved: saved,
                                         inputGradient: dx, gammaGradient: dg, betaGradient: db)
            }, outputs: [dx, dg, db])
        }
        return [forward, backward]
    }
}
