import Testing
@testable import Atelier
@testable import AtelierDevices
@testable import AtelierGraph
@testable import AtelierModels
@testable import AtelierTraining

/// Every kernel on OpenCL against the plain reference backend (double
/// sums, simplest loops), on random data and shapes that are not multiples
/// of any work-group or tile size.
@Suite(.requiresOpenCL)
struct KernelParityTests {
    let reference: Backend = ReferenceBackend()

    static let gemmShapes: [GemmShape] = [
        GemmShape(m: 1, n: 1, k: 1),
        GemmShape(m: 37, n: 29, k: 13),
        GemmShape(m: 130, n: 67, k: 45, alpha: 0.5),
        GemmShape(m: 17, n: 150, k: 3, beta: 0.75),
        GemmShape(m: 64, n: 64, k: 64),
    ]

    @Test("GEMM matches the reference for every transpose, shape and kernel variant",
          arguments: OpenCLTestSupport.gemmVariants)
    func gemm(variant: DeviceTuning.Gemm) throws {
        let cl = try OpenCLTestSupport.backend(tuning: tuning(gemm: variant))
        var seed: UInt64 = 1
        for base in Self.gemmShapes {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                var shape = base
                shape.transposeA = ta
                shape.transposeB = tb
                seed += 1
                let a = randomValues(shape.aCount, seed: seed)
                let b = randomValues(shape.bCount, seed: seed + 100)
                let c = randomValues(shape.cCount, seed: seed + 200)
                let expected = try run(reference, shape, a, b, c)
                let actual = try run(cl, shape, a, b, c)
                // fp32 sums of k products: error grows like sqrt(k).
                expectClose(actual, expected, rtol: 1e-4, atol: 1e-5 * Float(shape.k).squareRoot() * 4,
                            "GEMM \(shape) with \(variant)")
            }
        }
    }

    private func run(_ backend: Backend, _ s: GemmShape, _ a: [Float], _ b: [Float], _ c: [Float]) throws -> [Float] {
        let cb = try backend.upload(c)
        try backend.gemm(s, a: try backend.upload(a), b: try backend.upload(b), c: cb)
        return try backend.read(cb)
    }

    private func tuning(gemm: DeviceTuning.Gemm) throws -> DeviceTuning {
        var t = DeviceTuning.defaults(for: try OpenCLDevices.list()[0])
        t.gemm = gemm
        return t
    }

    static let geometries: [ConvGeometry] = [
        ConvGeometry(batch: 1, inChannels: 3, height: 7, width: 7, outChannels: 5, kernel: 3, stride: 1, padding: 1),
        ConvGeometry(batch: 2, inChannels: 1, height: 13, width: 13, outChannels: 7, kernel: 3, stride: 2, padding: 0),
        ConvGeometry(batch: 3, inChannels: 5, height: 9, width: 11, outChannels: 6, kernel: 4, stride: 2, padding: 1),
        ConvGeometry(batch: 2, inChannels: 4, height: 5, width: 5, outChannels: 3, kernel: 1, stride: 1, padding: 0),
        ConvGeometry(batch: 1, inChannels: 2, height: 4, width: 4, outChannels: 3, kernel: 4, stride: 1, padding: 0),
        ConvGeometry(batch: 2, inChannels: 3, height: 6, width: 5, outChannels: 2, kernelHeight: 3, kernelWidth: 2,
                     strideH: 2, strideW: 1, padH: 2, padW: 1),
    ]

    /// im2col + GEMM, and the implicit-GEMM and direct kernels with blocks
    /// that do and do not divide the channel and pixel counts.
    static let convAlgorithms: [ConvAlgorithm] = [
        .columns, .implicitGemm(block: 1, local: 1), .implicitGemm(block: 3, local: 4), .implicitGemm(block: 8, local: 16),
        .direct(width: 4, pixels: 3), .direct(width: 16, pixels: 8),
    ]

    @Test("Convolution forward, backward data and backward weights", arguments: geometries, convAlgorithms)
    func convolution(g: ConvGeometry, algorithm: ConvAlgorithm) throws {
        var tuning = DeviceTuning.defaults(for: try OpenCLDevices.list()[0])
        tuning.convolution = algorithm
        let cl = try OpenCLTestSupport.backend(tuning: tuning)
        let x = randomValues(g.inputCount, seed: 11)
        let w = randomValues(g.weightCount, seed: 12)
        let dy = randomValues(g.outputCount, seed: 13)
        let dwStart = randomValues(g.weightCount, seed: 14)
        func all(_ b: Backend) throws -> ([Float], [Float], [Float], [Float]) {
            let y = try b.buffer(count: g.outputCount)
            try b.convolutionForward(g, input: try b.upload(x), weight: try b.upload(w), output: y)
            let dx = try b.buffer(count: g.inputCount)
            try b.convolutionBackwardData(g, outputGradient: try b.upload(dy), weight: try b.upload(w), inputGradient: dx)
            let dw = try b.buffer(count: g.weightCount)
            try b.convolutionBackwardWeights(g, input: try b.upload(x), outputGradient: try b.upload(dy), weightGradient: dw)
            let dwAcc = try b.upload(dwStart)
            try b.convolutionBackwardWeights(g, input: try b.upload(x), outputGradient: try b.upload(dy), weightGradient: dwAcc, accumulate: true)
            return (try b.read(y), try b.read(dx), try b.read(dw), try b.read(dwAcc))
        }
        let (ey, edx, edw, edwAcc) = try all(reference)
        let (ay, adx, adw, adwAcc) = try all(cl)
        expectClose(ay, ey, atol: 1e-4, "conv forward \(g) by \(algorithm)")
        expectClose(adx, edx, atol: 1e-4, "conv backward data \(g) by \(algorithm)")
        expectClose(adw, edw, atol: 1e-4, "conv backward weights \(g) by \(algorithm)")
        expectClose(adwAcc, edwAcc, atol: 1e-4, "conv backward weights, accumulating \(g) by \(algorithm)")

        // With an epilogue: OpenCL's elementwise pass against the CPU path's fused one.
        let (outBias, inBias) = (randomValues(g.outChannels, seed: 15), randomValues(g.inChannels, seed: 16))
        func withEpilogue(_ b: Backend) throws -> ([Float], [Float]) {
            let y = try b.buffer(count: g.outputCount), dx = try b.buffer(count: g.inputCount)
            try b.convolutionForward(g, input: try b.upload(x), weight: try b.upload(w), output: y,
                                     epilogue: Epilogue(bias: try b.upload(outBias), activation: .leakyRelu(slope: 0.2)))
            try b.convolutionBackwardData(g, outputGradient: try b.upload(dy), weight: try b.upload(w), inputGradient: dx,
                                          epilogue: Epilogue(bias: try b.upload(inBias), activation: .tanh))
            return (try b.read(y), try b.read(dx))
        }
        let (ey2, edx2) = try withEpilogue(reference), (ay2, adx2) = try withEpilogue(cl)
        expectClose(ay2, ey2, atol: 1e-4, "conv forward + bias + leaky_relu \(g) by \(algorithm)")
        expectClose(adx2, edx2, atol: 1e-4, "transposed conv + bias + tanh \(g) by \(algorithm)")
    }

    @Test("Axis swap")
    func swapAxes() throws {
        let cl = try OpenCLTestSupport.backend()
        for (a, b, inner) in [(1, 1, 1), (3, 5, 7), (17, 2, 1), (1, 9, 4)] {
            let x = randomValues(a * b * inner, seed: 5)
            func run(_ be: Backend) throws -> [Float] {
                let out = try be.buffer(count: x.count)
                try be.swapAxes(a: a, b: b, inner: inner, input: try be.upload(x), output: out)
                return try be.read(out)
            }
            #expect(try run(cl) == run(reference), "swap \(a)x\(b)x\(inner)")
        }
    }

    static let layouts = [ChannelLayout(outer: 1, channels: 1, inner: 1), ChannelLayout(outer: 3, channels: 5, inner: 7),
                          ChannelLayout(outer: 2, channels: 17, inner: 1), ChannelLayout(outer: 5, channels: 3, inner: 601)]

    static let pointwiseOps: [PointwiseOp] = [
        .activation(.identity), .activation(.relu), .activation(.leakyRelu(slope: 0.2)), .activation(.sigmoid), .activation(.tanh),
        .activationGradient(.identity), .activationGradient(.relu), .activationGradient(.leakyRelu(slope: 0.2)),
        .activationGradient(.sigmoid), .activationGradient(.tanh),
        .add, .scale(-1.5), .biasAdd, .broadcastChannels, .biasActivation(.relu), .biasActivation(.leakyRelu(slope: 0.2)),
        .biasActivation(.sigmoid), .biasActivation(.tanh),
        .bceWithLogitsGradient(scale: 0.25), .mseGradient(scale: 0.5), .l1Gradient(scale: 0.125),
        .batchNormStatistics(momentum: 0.1, epsilon: 1e-5, unbias: 1.5), .batchNormApply, .batchNormApplyActivation(.leakyRelu(slope: 0.2)),
        .batchNormApplyActivation(.relu), .batchNormApplyActivation(.tanh), .batchNormInference(epsilon: 1e-5),
        .batchNormGradient(inverseCount: 0.01), .adam(AdamStep(learningRate: 1e-3, step: 3)),
    ]

    /// 1 is the GPU default, 16 the CPU default.
    @Test("Every pointwise op, scalar and vectorised", arguments: pointwiseOps, [1, 16])
    func pointwise(op: PointwiseOp, vectorWidth: Int) throws {
        var tuning = DeviceTuning.defaults(for: try OpenCLDevices.list()[0])
        tuning.pointwiseVector = vectorWidth
        let cl = try OpenCLTestSupport.backend(tuning: tuning)
        for layout in Self.layouts {
            let sig = op.signature
            var seed: UInt64 = 40
            // Inputs: sigmoid/BN outputs and variances must be in their domain.
            let inputs: [[Float]] = sig.operands.map { operand in
                seed += 1
                let count = operand.role == .perChannel ? layout.channels : layout.count
                let positive = ["var", "rvar", "invstd", "v"].contains(operand.name)
                return randomValues(count, seed: seed, in: positive ? 0.1...2 : -3...3)
            }
            func run(_ b: Backend) throws -> [[Float]] {
                let buffers = try inputs.map { try b.upload($0) }
                if case .batchNormStatistics = op {
                    try b.pointwise(op, count: layout.count, operands: buffers)
                } else {
                    try b.pointwise(op, layout: layout, operands: buffers)
                }
                return try buffers.map { try b.read($0) }
            }
            let expected = try run(reference), actual = try run(cl)
            for (i, operand) in sig.operands.enumerated() where operand.role == .output || operand.role == .inOut {
                expectClose(actual[i], expected[i], rtol: 2e-5, atol: 2e-6, "\(sig.name) \(operand.name) over \(layout), vector width \(vectorWidth)")
            }
        }
    }

    @Test("Whole-buffer reductions", arguments: ReduceOp.allCases)
    func reduce(op: ReduceOp) throws {
        let cl = try OpenCLTestSupport.backend()
        for n in [1, 3, 1000, 100_003] {
            let a = randomValues(n, seed: 7, in: -4...4)
            let b = op == .hinge ? randomValues(n, seed: 8).map { $0 < 0 ? -1 : 1 } : randomValues(n, seed: 8, in: 0...1)
            func run(_ be: Backend) throws -> [Float] {
                let out = try be.buffer(count: 1)
                let inputs = try [a, b].prefix(op.arity).map { try be.upload($0) }
                try be.reduce(op, inputs: inputs, output: out)
                return try be.read(out)
            }
            expectClose(try run(cl), try run(reference), rtol: 1e-4, atol: 1e-4, "\(op) over \(n)")
            // The loss with its (weighted) gradient: one pass on OpenCL, the
            // reduction and an elementwise op on the CPU path; and the
            // gradient alone, an elementwise op on both.
            for weight: Float in [1, -2.5] {
                func fused(_ be: Backend) throws -> ([Float], [Float], [Float]) {
                    let loss = try be.buffer(count: 1), gradient = try be.buffer(count: n), alone = try be.buffer(count: n)
                    let inputs = try [a, b].prefix(op.arity).map { try be.upload($0) }
                    try be.lossWithGradient(op, inputs: inputs, loss: loss, gradient: gradient, weight: weight)
                    try be.lossGradient(op, inputs: inputs, gradient: alone, weight: weight)
                    return (try be.read(loss), try be.read(gradient), try be.read(alone))
                }
                let (clLoss, clGradient, clAlone) = try fused(cl), (cpuLoss, cpuGradient, cpuAlone) = try fused(reference)
                expectClose(clLoss, cpuLoss, rtol: 1e-4, atol: 1e-4, "\(op) loss with gradient over \(n)")
                expectClose(clGradient, cpuGradient, rtol: 1e-4, atol: 1e-7, "\(op) gradient x\(weight) over \(n)")
                expectClose(clAlone, cpuGradient, rtol: 1e-4, atol: 1e-7, "\(op) gradient alone x\(weight) over \(n)")
                expectClose(cpuAlone, cpuGradient, rtol: 0, atol: 0, "\(op) gradient alone x\(weight) over \(n), CPU path")
            }
        }
    }

    @Test("Per-channel reductions", arguments: ChannelReduceOp.allCases, [1, 64])
    func reduceChannels(op: ChannelReduceOp, local: Int) throws {
        var tuning = DeviceTuning.defaults(for: try OpenCLDevices.list()[0])
        tuning.channelReduceLocal = local
        let cl = try OpenCLTestSupport.backend(tuning: tuning)
        for layout in Self.layouts {
            let elements = (0..<op.elementInputs).map { randomValues(layout.count, seed: 20 + UInt64($0)) }
            let channels = (0..<op.channelInputs).map { randomValues(layout.channels, seed: 30 + UInt64($0)) }
            func run(_ be: Backend) throws -> [Float] {
                let out = try be.buffer(count: layout.channels)
                try be.reduceChannels(op, layout: layout, scale: 0.5, elements: try elements.map { try be.upload($0) },
                                      channels: try channels.map { try be.upload($0) }, output: out)
                return try be.read(out)
            }
            expectClose(try run(cl), try run(reference), rtol: 1e-4, atol: 1e-4, "\(op) over \(layout), \(local) items per channel")
        }
    }

    @Test("BatchNorm training forward, inference and backward, fused with each activation",
          arguments: [Activation.identity, .relu, .leakyRelu(slope: 0.2), .sigmoid, .tanh])
    func batchNorm(activation: Activation) throws {
        let cl = try OpenCLTestSupport.backend()
        for layout in [ChannelLayout(outer: 3, channels: 5, inner: 7), ChannelLayout(outer: 7, channels: 3, inner: 1)] {
            let x = randomValues(layout.count, seed: 1, in: -2...3)
            let dy = randomValues(layout.count, seed: 2)
            let gamma = randomValues(layout.channels, seed: 3, in: 0.5...1.5)
            let beta = randomValues(layout.channels, seed: 4)
            func run(_ b: Backend) throws -> [[Float]] {
                let state = BatchNormState(gamma: try b.upload(gamma), beta: try b.upload(beta),
                                           runningMean: try b.upload([Float](repeating: 0, count: layout.channels)),
                                           runningVar: try b.upload([Float](repeating: 1, count: layout.channels)))
                let input = try b.upload(x)
                let y = try b.buffer(count: layout.count)
                let saved = try b.batchNormForwardTraining(layout: layout, input: input, state: state, activation: activation, output: y)
                let dx = try b.buffer(count: layout.count)
                let dg = try b.buffer(count: layout.channels), db = try b.buffer(count: layout.channels)
                try b.batchNormBackward(layout: layout, input: input, outputGradient: try b.upload(dy), gamma: state.gamma,
                                        saved: saved, activation: activation, activated: y,
                                        inputGradient: dx, gammaGradient: dg, betaGradient: db)
                let yInfer = try b.buffer(count: layout.count)
                try b.batchNormForwardInference(layout: layout, input: input, state: state, activation: activation, output: yInfer)
                return try [y, dx, dg, db, state.runningMean, state.runningVar, yInfer].map { try b.read($0) }
            }
            let expected = try run(reference), actual = try run(cl)
            for (i, name) in ["y", "dx", "dgamma", "dbeta", "running mean", "running var", "inference y"].enumerated() {
                expectClose(actual[i], expected[i], rtol: 1e-4, atol: 1e-5, "BatchNorm + \(activation) \(name) over \(layout)")
            }
        }
    }
}

extension DeviceTuning.Gemm: CustomTestStringConvertible {
    public var testDescription: String {
        switch self {
        case .blocked(let r, let v, let lx, let ly): "blocked \(r)x\(v) local \(lx)x\(ly)"
        case .tiled(let m, let n, let k, let wm, let wn): "tiled \(m)x\(n)x\(k) work \(wm)x\(wn)"
        }
    }
}
