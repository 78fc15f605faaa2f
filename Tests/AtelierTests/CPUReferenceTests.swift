import Testing
@testable import Atelier
@testable import AtelierDevices
@testable import AtelierGraph
@testable import AtelierModels
@testable import AtelierTraining

/// The optimised CPU path (register tiles, indirect and Winograd
/// convolutions, fused BatchNorm, the within-sample split) against the plain
/// reference backend, on odd shapes. Tolerances are those of float sums
/// against double ones, the same on any machine.
struct CPUReferenceTests {
    let reference = ReferenceBackend()

    @Test("GEMMs match the reference, on the tiles and on OpenBLAS, every transpose, with an epilogue",
          arguments: [true, false])
    func gemm(tiles: Bool) throws {
        let cpu = CPUBackend(tuning: .defaults, convolutionAlgorithm: nil, gemmTiles: tiles)
        var seed: UInt64 = 7
        for base in KernelParityTests.gemmShapes + [GemmShape(m: 70, n: 300, k: 129), GemmShape(m: 6, n: 1000, k: 784)] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                var s = base
                (s.transposeA, s.transposeB) = (ta, tb)
                seed += 1
                let (a, b, c) = (randomValues(s.aCount, seed: seed), randomValues(s.bCount, seed: seed + 1), randomValues(s.cCount, seed: seed + 2))
                let bias = randomValues(s.n, seed: seed + 3)
                func run(_ be: Backend, epilogue: Bool) throws -> [Float] {
                    let out = try be.upload(c)
                    try be.gemm(s, a: try be.upload(a), b: try be.upload(b), c: out,
                                epilogue: epilogue ? Epilogue(bias: try be.upload(bias), activation: .leakyRelu(slope: 0.2)) : nil)
                    return try be.read(out)
                }
                for epilogue in [false, true] {
                    expectClose(try run(cpu, epilogue: epilogue), try run(reference, epilogue: epilogue), rtol: 1e-5,
                                atol: 2e-6 * Float(s.k).squareRoot(), "GEMM \(s), tiles \(tiles), epilogue \(epilogue)")
                }
            }
        }
    }

    /// All three passes of `g` (the weight gradient also accumulating) on `cpu` and on the reference.
    func checkConvolution(_ g: ConvGeometry, on cpu: CPUBackend, _ what: String) throws {
        let (x, w, dy) = (randomValues(g.inputCount, seed: 21), randomValues(g.weightCount, seed: 22), randomValues(g.outputCount, seed: 23))
        let start = randomValues(g.weightCount, seed: 24)
        let bias = randomValues(g.outChannels, seed: 25)
        func passes(_ be: Backend) throws -> [[Float]] {
            let (y, dx, dw) = (try be.buffer(count: g.outputCount), try be.buffer(count: g.inputCount), try be.upload(start))
            try be.convolutionForward(g, input: try be.upload(x), weight: try be.upload(w), output: y,
                                      epilogue: Epilogue(bias: try be.upload(bias), activation: .tanh))
            try be.convolutionBackwardData(g, outputGradient: try be.upload(dy), weight: try be.upload(w), inputGradient: dx, epilogue: nil)
            try be.convolutionBackwardWeights(g, input: try be.upload(x), outputGradient: try be.upload(dy), weightGradient: dw, accumulate: true)
            return [try be.read(y), try be.read(dx), try be.read(dw)]
        }
        let (ours, theirs) = (try passes(cpu), try passes(reference))
        // Sums of up to C R S (forward), K R S (data) or N P Q (weights) products of values in [-1, 1].
        let depth = [g.columnRows, g.outChannels * g.kernelHeight * g.kernelWidth, g.columnCols]
        for (i, name) in ["forward + bias + tanh", "data gradient", "weight gradient (accumulated)"].enumerated() {
            expectClose(ours[i], theirs[i], rtol: 1e-5, atol: 3e-6 * Float(depth[i]).squareRoot(), "\(what): \(name) \(g)")
        }
    }

    @Test("Convolutions match the reference with every CPU algorithm", arguments: CPUConvolution.Algorithm.allCases)
    func convolution(algorithm: CPUConvolution.Algorithm) throws {
        let cpu = CPUBackend(tuning: CPUTuning(convolutionChunkBytes: 4096, winogradConvolutions: false), convolutionAlgorithm: algorithm)
        for g in KernelParityTests.geometries + [ConvGeometry(batch: 3, inChannels: 19, height: 9, width: 10, outChannels: 24, kernel: 4, stride: 2, padding: 1)] {
            try checkConvolution(g, on: cpu, "\(algorithm)")
        }
    }

    @Test("Winograd convolutions and the batch-1 split match the reference")
    func winogradAndSmallBatches() throws {
        let cpu = CPUBackend(tuning: CPUTuning(winogradConvolutions: true))
        for g in CPUPathTests.winogradGeometries.prefix(5) { try checkConvolution(g, on: cpu, "winograd") }
        for g in [ConvGeometry(batch: 1, inChannels: 64, height: 32, width: 32, outChannels: 128, kernel: 4, stride: 2, padding: 1),
                  ConvGeometry(batch: 1, inChannels: 37, height: 39, width: 47, outChannels: 45, kernel: 3, stride: 2, padding: 1)] {
            #expect(CPUBackend().splitsWithinSamples(g), "\(g) splits within the sample")
            try checkConvolution(g, on: CPUBackend(), "batch 1")
        }
    }

    @Test("Fused BatchNorm matches the reference's composite, forward and backward, with each activation",
          arguments: [Activation.identity, .relu, .leakyRelu(slope: 0.2), .tanh])
    func batchNorm(activation: Activation) throws {
        let cpu = CPUBackend()
        for layout in [ChannelLayout(outer: 5, channels: 3, inner: 49), ChannelLayout(outer: 7, channels: 6, inner: 1)] {
            let x = randomValues(layout.count, seed: 31, in: -2...2), dz = randomValues(layout.count, seed: 32)
            let (gamma, beta) = (randomValues(layout.channels, seed: 33, in: 0.5...1.5), randomValues(layout.channels, seed: 34))
            func run(_ be: Backend) throws -> [[Float]] {
                let c = layout.channels
                let state = BatchNormState(gamma: try be.upload(gamma), beta: try be.upload(beta),
                                           runningMean: try be.upload([Float](repeating: 0, count: c)),
                                           runningVar: try be.upload([Float](repeating: 1, count: c)))
                let (xb, z) = (try be.upload(x), try be.buffer(count: layout.count))
                let saved = try be.batchNormForwardTraining(layout: layout, input: xb, state: state, activation: activation, output: z)
                let (dx, dg, db) = (try be.buffer(count: layout.count), try be.buffer(count: c), try be.buffer(count: c))
                try be.batchNormBackward(layout: layout, input: xb, outputGradient: try be.upload(dz), gamma: state.gamma, saved: saved,
                                         activation: activation, activated: activation == .identity ? nil : z,
                                         beta: activation == .identity ? nil : state.beta,
                                         inputGradient: dx, gammaGradient: dg, betaGradient: db)
                return [try be.read(z), try be.read(state.runningMean), try be.read(state.runningVar), try be.read(dx), try be.read(dg), try be.read(db)]
            }
            let (ours, theirs) = (try run(cpu), try run(reference))
            for (i, name) in ["output", "running mean", "running var", "dx", "dgamma", "dbeta"].enumerated() {
                expectClose(ours[i], theirs[i], rtol: 1e-4, atol: 1e-5, "BatchNorm + \(activation) \(layout): \(name)")
            }
        }
    }
}

extension CPUReferenceTests {
    @Test("--device reference chooses the reference backend")
    func deviceChoice() throws {
        #expect(try DeviceChoice(parsing: "reference").makeBackend() is ReferenceBackend)
    }
}
