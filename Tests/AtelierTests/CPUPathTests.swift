import Foundation
import Testing
import CAtelier
@testable import Atelier
@testable import AtelierDevices
@testable import AtelierGraph
@testable import AtelierModels
@testable import AtelierTraining

/// The CPU path's own parallel versions against simple references: the
/// chunked convolution against the whole-batch im2col composite, the split
/// GEMM against a double-precision triple loop.
struct CPUPathTests {
    static let geometries: [ConvGeometry] = KernelParityTests.geometries + [
        ConvGeometry(batch: 7, inChannels: 3, height: 10, width: 9, outChannels: 5, kernel: 4, stride: 2, padding: 1),
        ConvGeometry(batch: 5, inChannels: 2, height: 8, width: 8, outChannels: 4, kernel: 3, stride: 3, padding: 2),
        ConvGeometry(batch: 9, inChannels: 1, height: 12, width: 12, outChannels: 3, kernel: 4, stride: 2, padding: 1),
        ConvGeometry(batch: 6, inChannels: 11, height: 9, width: 7, outChannels: 13, kernel: 4, stride: 2, padding: 1),
        ConvGeometry(batch: 3, inChannels: 17, height: 6, width: 6, outChannels: 5, kernelHeight: 3, kernelWidth: 2,
                     strideH: 1, strideW: 2, padH: 1, padW: 0),
        // More than one 64-wide weight panel both ways, the last one partial.
        ConvGeometry(batch: 3, inChannels: 70, height: 7, width: 6, outChannels: 83, kernel: 3, stride: 2, padding: 1),
        // A narrow data gradient whose (tap, channel) columns exceed the budget of one GEMM: a sample at a time.
        ConvGeometry(batch: 17, inChannels: 8, height: 19, width: 19, outChannels: 24, kernel: 7, stride: 1, padding: 3),
        // Stride past the kernel: stride phases of dx that no tap reaches (their gradient is zero).
        ConvGeometry(batch: 4, inChannels: 9, height: 7, width: 8, outChannels: 10, kernel: 1, stride: 2, padding: 0),
    ]

    /// 1 byte: one sample per chunk; 4 KB: a few; default: the whole share.
    @Test("Chunked convolution equals the im2col composite, both column layouts",
          arguments: [1, 4096, CPUConvolution.defaultChunkBytes], CPUConvolution.Algorithm.allCases)
    func convolution(chunkBytes: Int, algorithm: CPUConvolution.Algorithm) throws {
        let cpu = CPUBackend(convolutionChunkBytes: chunkBytes, convolutionAlgorithm: algorithm)
        for g in Self.geometries {
            let x = try cpu.upload(randomValues(g.inputCount, seed: 21))
            let w = try cpu.upload(randomValues(g.weightCount, seed: 22))
            let dy = try cpu.upload(randomValues(g.outputCount, seed: 23))
            let dwStart = randomValues(g.weightCount, seed: 24)

            let (y, yRef) = (try cpu.buffer(count: g.outputCount), try cpu.buffer(count: g.outputCount))
            try cpu.convolutionForward(g, input: x, weight: w, output: y)
            try cpu.convolutionForwardByColumns(g, input: x, weight: w, output: yRef)
            expectClose(try cpu.read(y), try cpu.read(yRef), atol: 1e-5, "forward \(g), chunks of \(chunkBytes) B")

            let (dx, dxRef) = (try cpu.upload(randomValues(g.inputCount, seed: 25)), try cpu.buffer(count: g.inputCount))
            try cpu.convolutionBackwardData(g, outputGradient: dy, weight: w, inputGradient: dx)
            try cpu.convolutionBackwardDataByColumns(g, outputGradient: dy, weight: w, inputGradient: dxRef)
            expectClose(try cpu.read(dx), try cpu.read(dxRef), atol: 1e-5, "backward data \(g), chunks of \(chunkBytes) B")

            for accumulate in [false, true] {
                let (dw, dwRef) = (try cpu.upload(dwStart), try cpu.upload(dwStart))
                try cpu.convolutionBackwardWeights(g, input: x, outputGradient: dy, weightGradient: dw, accumulate: accumulate)
                try cpu.convolutionBackwardWeightsByColumns(g, input: x, outputGradient: dy, weightGradient: dwRef,
                                                            accumulate: accumulate)
                expectClose(try cpu.read(dw), try cpu.read(dwRef), atol: 1e-4,
                            "backward weights \(g), accumulate \(accumulate), chunks of \(chunkBytes) B")
            }
        }
    }

    /// The C loops' sigmoid and tanh take e^x from a polynomial
    /// (cpu_activation.h) instead of expf: against double precision over a
    /// dense sweep of inputs, including the tails where e^x underflows.
    @Test("The C loops' sigmoid and tanh stay within 1e-6 of double precision", arguments: [Activation.sigmoid, .tanh])
    func activationAccuracy(activation: Activation) {
        let xs = (0...200_000).map { Float(-100 + Double($0) * 1e-3) }
        var ys = xs
        ys.withUnsafeMutableBufferPointer { y in
            atelier_epilogue(1, 1, y.count, y.count, y.baseAddress, nil, activation.cCode, 0, nil)
        }
        var worst = 0.0, at: Float = 0
        for (x, y) in zip(xs, ys) {
            let exact = activation == .sigmoid ? 1 / (1 + Foundation.exp(-Double(x))) : Foundation.tanh(Double(x))
            // Relative for sigmoid's tiny values, absolute near tanh's zero crossing.
            let error = abs(Double(y) - exact) / max(abs(exact), activation == .sigmoid ? 1e-30 : 1)
            if error > worst { (worst, at) = (error, x) }
        }
        #expect(worst <= 1e-6, "\(activation): worst error \(worst) at x = \(at)")
    }

    /// The narrow data gradient's columns are taps times the size of dx: a
    /// chunk of samples sized for the other passes would make them take
    /// hundreds of MB for a large kernel, so they get a budget of their own.
    @Test("The narrow data gradient's scratch stays within its budget whatever the chunk")
    func narrowScratch() {
        let g = ConvGeometry(batch: 256, inChannels: 48, height: 28, width: 28, outChannels: 64, kernel: 7, stride: 1, padding: 3)
        var conv = CPULayout.geometry(g)
        let one = atelier_conv_indirect_scratch(&conv, 64, 1, Int32(ATELIER_CONV_BACKWARD_DATA))
        let many = atelier_conv_indirect_scratch(&conv, 64, 256, Int32(ATELIER_CONV_BACKWARD_DATA))
        // One sample's columns: 784 pixels x (49 taps x 48 channels) = 1.8M floats, over the budget.
        #expect(one >= 784 * 49 * 48 && many == one, "scratch: \(one) floats for 1 sample, \(many) for 256")
    }

    /// The register tiles sized for AVX2 (16-column strips of 6x16,
    /// cpu_tiles.h) run wherever tiles are forced; on any CPU they must give
    /// the AVX-512 shapes' sums, to the bit: each output is the same chain
    /// of multiply-adds, only grouped into other tiles.
    @Test("The AVX2 register tiles give the same sums as the AVX-512 ones, convolutions and GEMMs")
    func narrowTiles() throws {
        let cpu = CPUBackend(tuning: .defaults, convolutionAlgorithm: .indirect, gemmTiles: true)
        func both(_ run: () throws -> [Float]) throws -> (wide: [Float], narrow: [Float]) {
            atelier_set_wide_tiles(1)
            let wide = try run()
            atelier_set_wide_tiles(0)
            defer { atelier_set_wide_tiles(-1) }
            return (wide, try run())
        }
        for g in Self.geometries {
            let x = try cpu.upload(randomValues(g.inputCount, seed: 81)), w = try cpu.upload(randomValues(g.weightCount, seed: 82))
            let dy = try cpu.upload(randomValues(g.outputCount, seed: 83))
            let y = try both {
                let y = try cpu.buffer(count: g.outputCount)
                try cpu.convolutionForward(g, input: x, weight: w, output: y)
                return try cpu.read(y)
            }
            expectClose(y.narrow, y.wide, rtol: 0, atol: 0, "forward \(g)")
            let dx = try both {
                let dx = try cpu.buffer(count: g.inputCount)
                try cpu.convolutionBackwardData(g, outputGradient: dy, weight: w, inputGradient: dx)
                return try cpu.read(dx)
            }
            expectClose(dx.narrow, dx.wide, rtol: 0, atol: 0, "backward data \(g)")
            let dw = try both {
                let dw = try cpu.buffer(count: g.weightCount)
                try cpu.convolutionBackwardWeights(g, input: x, outputGradient: dy, weightGradient: dw, accumulate: false)
                return try cpu.read(dw)
            }
            expectClose(dw.narrow, dw.wide, rtol: 0, atol: 0, "backward weights \(g)")
        }
        for base in Self.splitShapes {
            for (ta, tb) in [(false, false), (true, false), (false, true)] {
                var s = base
                (s.transposeA, s.transposeB) = (ta, tb)
                let a = try cpu.upload(randomValues(s.aCount, seed: 84)), b = try cpu.upload(randomValues(s.bCount, seed: 85))
                let start = randomValues(s.cCount, seed: 86)
                let c = try both {
                    let c = try cpu.upload(start)
                    try cpu.gemm(s, a: a, b: b, c: c)
                    return try cpu.read(c)
                }
                expectClose(c.narrow, c.wide, rtol: 0, atol: 0, "GEMM \(s)")
            }
        }
    }

    /// One input channel, odd sizes, strides, paddings and kernels: Q is
    /// not a multiple of the vector width, planes end mid-vector.
    static let singleChannelGeometries: [ConvGeometry] = [
        ConvGeometry(batch: 3, inChannels: 1, height: 28, width: 28, outChannels: 64, kernel: 4, stride: 2, padding: 1),
        ConvGeometry(batch: 5, inChannels: 1, height: 13, width: 11, outChannels: 9, kernel: 3, stride: 1, padding: 2),
        ConvGeometry(batch: 2, inChannels: 1, height: 9, width: 17, outChannels: 3, kernelHeight: 2, kernelWidth: 5,
                     strideH: 3, strideW: 2, padH: 0, padW: 2),
        ConvGeometry(batch: 1, inChannels: 1, height: 4, width: 4, outChannels: 17, kernel: 4, stride: 1, padding: 0),
    ]

    @Test("One-channel convolutions equal the im2col composites: forward and data gradient with every epilogue, weight gradient")
    func singleChannelDirect() throws {
        let cpu = CPUBackend()
        defer { atelier_set_wide_tiles(-1) }
        /// `fused` (the op with each epilogue) against `plain` (its composite) followed by the epilogue.
        func expectEpilogues(_ epilogues: [(String, Epilogue?)], count: Int, layout: ChannelLayout, _ what: String,
                             fused: (DeviceBuffer, Epilogue?) throws -> Void, plain: (DeviceBuffer) throws -> Void) throws {
            for (name, epilogue) in epilogues {
                let (out, ref) = (try cpu.buffer(count: count), try cpu.buffer(count: count))
                try fused(out, epilogue)
                try plain(ref)
                try cpu.applyEpilogue(epilogue, layout: layout, to: ref)
                expectClose(try cpu.read(out), try cpu.read(ref), atol: 1e-5, "\(what), epilogue \(name)")
            }
        }
        for g in Self.singleChannelGeometries {
            let x = try cpu.upload(randomValues(g.inputCount, seed: 41))
            let w = try cpu.upload(randomValues(g.weightCount, seed: 42))
            let bias = try cpu.upload(randomValues(g.outChannels, seed: 43))
            let activated = try cpu.upload(randomValues(g.outputCount, seed: 44, in: -0.9...0.9))
            let epilogues: [(String, Epilogue?)] = [("none", nil), ("bias + leaky_relu", Epilogue(bias: bias, activation: .leakyRelu(slope: 0.2))),
                                                    ("tanh gradient", .gradient(through: .tanh, activated: activated))]
            try expectEpilogues(epilogues, count: g.outputCount, layout: g.outputLayout, "one-channel forward \(g)",
                                fused: { try cpu.convolutionForward(g, input: x, weight: w, output: $0, epilogue: $1) },
                                plain: { try cpu.convolutionForwardByColumns(g, input: x, weight: w, output: $0) })

            // The data gradient is one channel: its epilogues have one bias and an activation output shaped like x.
            let dy = try cpu.upload(randomValues(g.outputCount, seed: 45))
            let xBias = try cpu.upload([0.3]), xActivated = try cpu.upload(randomValues(g.inputCount, seed: 46, in: -0.9...0.9))
            let dataEpilogues: [(String, Epilogue?)] = [("none", nil), ("bias + tanh", Epilogue(bias: xBias, activation: .tanh)),
                                                        ("tanh gradient", .gradient(through: .tanh, activated: xActivated))]
            try expectEpilogues(dataEpilogues, count: g.inputCount, layout: g.inputLayout, "one-channel data gradient \(g)",
                                fused: { try cpu.convolutionBackwardData(g, outputGradient: dy, weight: w, inputGradient: $0, epilogue: $1) },
                                plain: { try cpu.convolutionBackwardDataByColumns(g, outputGradient: dy, weight: w, inputGradient: $0) })

            // A start that is not zero, and NaN where the gradient overwrites: beta 0 must not read dw.
            // Its register tiles have an AVX-512 and an AVX2 shape; either runs on any CPU.
            for (accumulate, wide) in [(false, Int32(1)), (true, 1), (false, 0), (true, 0)] {
                atelier_set_wide_tiles(wide)
                let start = accumulate ? randomValues(g.weightCount, seed: 47) : [Float](repeating: .nan, count: g.weightCount)
                let (dw, dwRef) = (try cpu.upload(start), try cpu.upload(start.map { $0.isNaN ? 0 : $0 }))
                try cpu.convolutionBackwardWeights(g, input: x, outputGradient: dy, weightGradient: dw, accumulate: accumulate)
                try cpu.convolutionBackwardWeightsByColumns(g, input: x, outputGradient: dy, weightGradient: dwRef, accumulate: accumulate)
                expectClose(try cpu.read(dw), try cpu.read(dwRef), atol: 1e-4, "one-channel weight gradient \(g), accumulate \(accumulate), wide tiles \(wide)")
            }
        }
    }

    /// 4x4 kernels at stride 2 with 16 or more channels both ways: odd and
    /// even outputs (2x2 blocks that end past the last row or column; data
    /// gradient phases of different sizes), paddings 0 to 2, channels that
    /// are not whole vectors (padded), more than one 64-wide panel of
    /// outputs either way, the last partial.
    static let winogradGeometries: [ConvGeometry] = [
        ConvGeometry(batch: 3, inChannels: 64, height: 14, width: 14, outChannels: 128, kernel: 4, stride: 2, padding: 1),
        ConvGeometry(batch: 7, inChannels: 17, height: 11, width: 9, outChannels: 21, kernel: 4, stride: 2, padding: 1),
        ConvGeometry(batch: 3, inChannels: 33, height: 10, width: 13, outChannels: 83, kernel: 4, stride: 2, padding: 0),
        ConvGeometry(batch: 4, inChannels: 16, height: 6, width: 7, outChannels: 70, kernel: 4, stride: 2, padding: 2),
        ConvGeometry(batch: 2, inChannels: 70, height: 9, width: 8, outChannels: 16, kernel: 4, stride: 2, padding: 1),
        // A larger image: 100 blocks a sample, several GEMM row tiles per sample.
        ConvGeometry(batch: 2, inChannels: 16, height: 40, width: 38, outChannels: 20, kernel: 4, stride: 2, padding: 1),
    ]

    /// In double precision, with each value's sum of its terms' magnitudes
    /// (what bounds a float sum's rounding error): y (N, K, P, Q) of the
    /// forward pass, dx (N, C, H, W) of the data gradient and dw (K, C, R, S)
    /// of the weight gradient.
    static func exactConvolution(_ g: ConvGeometry, x: [Float], w: [Float], dy: [Float])
        -> (y: [Double], yMagnitude: [Double], dx: [Double], dxMagnitude: [Double], dw: [Double], dwMagnitude: [Double]) {
        var y = [Double](repeating: 0, count: g.outputCount), yMagnitude = y
        var dx = [Double](repeating: 0, count: g.inputCount), dxMagnitude = dx
        var dw = [Double](repeating: 0, count: g.weightCount), dwMagnitude = dw
        for n in 0..<g.batch {
            for k in 0..<g.outChannels {
                for p in 0..<g.outHeight {
                    for q in 0..<g.outWidth {
                        let o = ((n * g.outChannels + k) * g.outHeight + p) * g.outWidth + q
                        for c in 0..<g.inChannels {
                            for r in 0..<g.kernelHeight {
                                let h = p * g.strideH - g.padH + r
                                guard h >= 0, h < g.height else { continue }
                                for t in 0..<g.kernelWidth {
                                    let wc = q * g.strideW - g.padW + t
                                    guard wc >= 0, wc < g.width else { continue }
                                    let i = ((n * g.inChannels + c) * g.height + h) * g.width + wc
                                    let j = ((k * g.inChannels + c) * g.kernelHeight + r) * g.kernelWidth + t
                                    let weight = Double(w[j])
                                    dw[j] += Double(dy[o]) * Double(x[i])
                                    dwMagnitude[j] += abs(Double(dy[o]) * Double(x[i]))
                                    y[o] += Double(x[i]) * weight
                                    yMagnitude[o] += abs(Double(x[i]) * weight)
                                    dx[i] += Double(dy[o]) * weight
                                    dxMagnitude[i] += abs(Double(dy[o]) * weight)
                                }
                            }
                        }
                    }
                }
            }
        }
        return (y, yMagnitude, dx, dxMagnitude, dw, dwMagnitude)
    }

    /// Two units of float rounding: the bound on the typical error of a
    /// pass, relative to the magnitude of its sum (the Winograd passes reach
    /// about 0.75 of a unit; a transform that loses precision exceeds it).
    static let typicalErrorBound = Double(Float.ulpOfOne)

    /// The root mean square of each error over the sum of its terms'
    /// magnitudes: a figure of the pass alone, against double precision, so
    /// it does not depend on the machine's BLAS.
    static func rmsRelativeError(_ errors: [Double], _ magnitudes: [Double]) -> Double {
        let squares = zip(errors, magnitudes).map { pow($0 / ($1 + 1e-3), 2) }
        return (squares.reduce(0, +) / Double(squares.count)).squareRoot()
    }

    /// Against double precision: every value within a float sum's error
    /// bound, and the root-mean-square relative error within two units of
    /// rounding (a bound of the pass itself, not of another path on this
    /// machine, whose BLAS rounds differently on AMD and Intel). With each epilogue, against the
    /// composite followed by it; the weight gradient also added to a start
    /// (and written over NaN). Chunks of one sample and of the whole share,
    /// on both tile shapes.
    @Test("Winograd convolutions, all three passes, match double precision, with every epilogue",
          arguments: [1, CPUConvolution.defaultChunkBytes])
    func winograd(chunkBytes: Int) throws {
        let cpu = CPUBackend(tuning: CPUTuning(convolutionChunkBytes: chunkBytes, winogradConvolutions: true))
        defer { atelier_set_wide_tiles(-1) }
        for g in Self.winogradGeometries {
            #expect(cpu.convolution.winogradApplies(g), "\(g) runs by Winograd")
            let (xs, ws, dys) = (randomValues(g.inputCount, seed: 51), randomValues(g.weightCount, seed: 52),
                                 randomValues(g.outputCount, seed: 53))
            let (x, w, dy) = (try cpu.upload(xs), try cpu.upload(ws), try cpu.upload(dys))
            let exact = Self.exactConvolution(g, x: xs, w: ws, dy: dys)
            let (yColumns, dxColumns) = (try cpu.buffer(count: g.outputCount), try cpu.buffer(count: g.inputCount))
            try cpu.convolutionForwardByColumns(g, input: x, weight: w, output: yColumns)
            try cpu.convolutionBackwardDataByColumns(g, outputGradient: dy, weight: w, inputGradient: dxColumns)
            let outputBias = try cpu.upload(randomValues(g.outChannels, seed: 54))
            let inputBias = try cpu.upload(randomValues(g.inChannels, seed: 55))
            let yActivated = try cpu.upload(randomValues(g.outputCount, seed: 56, in: -0.9...0.9))
            let dxActivated = try cpu.upload(randomValues(g.inputCount, seed: 57, in: -0.9...0.9))
            /// The pass, its composite, its exact values, the layout and epilogues of its output.
            let passes: [(String, (DeviceBuffer, Epilogue?) throws -> Void, DeviceBuffer, [Double], [Double], ChannelLayout, [(String, Epilogue)])] = [
                ("forward", { try cpu.convolutionForward(g, input: x, weight: w, output: $0, epilogue: $1) },
                 yColumns, exact.y, exact.yMagnitude, g.outputLayout,
                 [("bias + leaky_relu", Epilogue(bias: outputBias, activation: .leakyRelu(slope: 0.2))),
                  ("tanh gradient", .gradient(through: .tanh, activated: yActivated))]),
                ("data gradient", { try cpu.convolutionBackwardData(g, outputGradient: dy, weight: w, inputGradient: $0, epilogue: $1) },
                 dxColumns, exact.dx, exact.dxMagnitude, g.inputLayout,
                 [("bias + tanh", Epilogue(bias: inputBias, activation: .tanh)),
                  ("leaky_relu gradient", .gradient(through: .leakyRelu(slope: 0.2), activated: dxActivated))]),
            ]
            for (pass, run, columns, values, magnitudes, layout, epilogues) in passes {
                let count = values.count
                for wide in [Int32(1), 0] {
                    atelier_set_wide_tiles(wide)
                    let what = "Winograd \(pass) \(g), chunks of \(chunkBytes) B, wide tiles \(wide)"
                    // NaN where the pass writes: every value must be written.
                    let out = try cpu.upload([Float](repeating: .nan, count: count))
                    try run(out, nil)
                    let errors = zip(try cpu.read(out), values).map { abs(Double($0) - $1) }
                    let outside = zip(errors, magnitudes).filter { !($0 <= 1e-6 * $1 + 1e-6) }.count
                    #expect(outside == 0, "\(what): \(outside) values beyond the error bound")
                    let typical = Self.rmsRelativeError(errors, magnitudes)
                    #expect(typical <= Self.typicalErrorBound, "\(what): root-mean-square relative error \(typical)")
                    for (name, epilogue) in epilogues {
                        let (fused, ref) = (try cpu.upload([Float](repeating: .nan, count: count)), try cpu.buffer(count: count))
                        try run(fused, epilogue)
                        try cpu.copy(columns, to: ref)
                        try cpu.applyEpilogue(epilogue, layout: layout, to: ref)
                        expectClose(try cpu.read(fused), try cpu.read(ref), atol: 1e-4, "\(what), epilogue \(name)")
                    }
                }
            }
            let start = randomValues(g.weightCount, seed: 58)
            for wide in [Int32(1), 0] {
                atelier_set_wide_tiles(wide)
                try expectExactWeightGradients(cpu, g, x: x, dy: dy, exact: (exact.dw, exact.dwMagnitude), start: start,
                                               ExactBounds(relative: 1e-6, absolute: 1e-5, typical: Self.typicalErrorBound),
                                               "Winograd, chunks of \(chunkBytes) B, wide tiles \(wide):")
            }
        }
        // Not taken: 3x3 kernels, stride 1, fewer than 16 channels either way, or turned off.
        let off = CPUBackend(tuning: CPUTuning(winogradConvolutions: false))
        #expect(!off.convolution.winogradApplies(Self.winogradGeometries[0]))
        for other in [ConvGeometry(batch: 2, inChannels: 32, height: 8, width: 8, outChannels: 32, kernel: 3, stride: 2, padding: 1),
                      ConvGeometry(batch: 2, inChannels: 32, height: 8, width: 8, outChannels: 32, kernel: 4, stride: 1, padding: 1),
                      ConvGeometry(batch: 2, inChannels: 8, height: 8, width: 8, outChannels: 32, kernel: 4, stride: 2, padding: 1),
                      ConvGeometry(batch: 2, inChannels: 32, height: 8, width: 8, outChannels: 8, kernel: 4, stride: 2, padding: 1)] {
            #expect(!cpu.convolution.winogradApplies(other), "\(other) runs directly")
        }
    }

    @Test("The worker pool runs every worker of every region once: varying counts, nested regions, several callers")
    func workerPool() throws {
        // Counts above the cores and changing from region to region, so
        // threads that sit a region out must not run the next one's task twice.
        let counts = [2, 5, 1, 3, 4, 2]
        let callers = 3, rounds = 300
        let slots = UnsafeMutablePointer<Int>.allocate(capacity: callers * 8)
        let failures = UnsafeMutablePointer<Int>.allocate(capacity: callers)
        failures.initialize(repeating: 0, count: callers)
        defer { slots.deallocate(); failures.deallocate() }
        nonisolated(unsafe) let (s, f) = (slots, failures)
        DispatchQueue.concurrentPerform(iterations: callers) { caller in
            for round in 0..<rounds {
                let count = counts[round % counts.count]
                let base = s + caller * 8
                base.initialize(repeating: 0, count: 8)
                Parallel.forEachWorker(count) { worker in
                    base[worker] += 1
                    // A region inside a region runs on this thread, in order; inside a
                    // one-worker call, which is no region, it runs on the pool, so its
                    // workers count with an atomic add (a plain += lost one now and then).
                    var inner = 0
                    withUnsafeMutablePointer(to: &inner) { counter in
                        nonisolated(unsafe) let counter = counter
                        Parallel.forEachWorker(3) { _ in _ = atelier_take_next(counter) }
                    }
                    if inner != 3 { base[worker] += 100 }
                }
                if (0..<8).contains(where: { base[$0] != ($0 < count ? 1 : 0) }) { f[caller] += 1 }
            }
        }
        #expect((0..<callers).map { failures[$0] } == Array(repeating: 0, count: callers), "rounds where a worker ran twice or not at all")

        // Regions far apart: the threads have gone to sleep between them and
        // must be woken for each (a lost wake-up would hang here).
        for _ in 0..<30 {
            Thread.sleep(forTimeInterval: 0.003)
            var ran = [0, 0]
            ran.withUnsafeMutableBufferPointer { ran in
                nonisolated(unsafe) let ran = ran
                Parallel.forEachWorker(2) { ran[$0] += 1 }
            }
            #expect(ran == [1, 1])
        }
    }

    /// Each forced layout on a layer of the general geometries, and (nil)
    /// Winograd on a 4x4 stride-2 layer.
    @Test("Convolution results do not depend on timing",
          arguments: CPUConvolution.Algorithm.allCases.map(Optional.some) + [nil])
    func convolutionIsDeterministic(algorithm: CPUConvolution.Algorithm?) throws {
        let cpu = algorithm.map { CPUBackend(convolutionChunkBytes: 4096, convolutionAlgorithm: $0) }
            ?? CPUBackend(tuning: CPUTuning(convolutionChunkBytes: 4096, winogradConvolutions: true))
        let g = algorithm == nil ? Self.winogradGeometries[1] : Self.geometries.last!
        #expect(cpu.convolution.winogradApplies(g) == (algorithm == nil))
        let x = try cpu.upload(randomValues(g.inputCount, seed: 31))
        let dy = try cpu.upload(randomValues(g.outputCount, seed: 32))
        var results: [[Float]] = []
        for _ in 0..<5 {
            let dw = try cpu.buffer(count: g.weightCount)
            try cpu.convolutionBackwardWeights(g, input: x, outputGradient: dy, weightGradient: dw)
            results.append(try cpu.read(dw))
        }
        #expect(results.allSatisfy { $0 == results[0] })
    }

    /// Large enough to be split over the cores, by rows (m >= n) or columns.
    static let splitShapes: [GemmShape] = [
        GemmShape(m: 300, n: 97, k: 80),
        GemmShape(m: 41, n: 530, k: 121, alpha: 0.5, beta: 0.75),
        GemmShape(m: 257, n: 255, k: 33, beta: 1),
        // Whole vectors of C's columns: shapes the register tiles take (CPUGemm.onTiles), with a last
        // panel of 16, 32 and 48 columns; one that adds to C (beta 1), which stays on OpenBLAS.
        GemmShape(m: 300, n: 96, k: 80), GemmShape(m: 70, n: 160, k: 200, beta: 1),
        GemmShape(m: 13, n: 1040, k: 160), GemmShape(m: 301, n: 112, k: 70),
        // Whole vectors of A's rows: with B transposed, C^T = B A^T on the tiles (CPUGemm.forwardOnTiles),
        // with a last panel of 16 rows and outputs that do not fill the 8x8 transposes.
        GemmShape(m: 64, n: 1030, k: 40), GemmShape(m: 144, n: 100, k: 150),
    ]

    /// One row or one column of C (matrix-vector products), and an outer
    /// product; the large ones are split for their size in floats.
    static let vectorShapes: [GemmShape] = [
        GemmShape(m: 256, n: 1, k: 6272), GemmShape(m: 1, n: 6272, k: 256, beta: 1),
        GemmShape(m: 256, n: 6272, k: 1), GemmShape(m: 7, n: 1, k: 5, alpha: 0.5, beta: 0.25),
        GemmShape(m: 1, n: 9, k: 3, alpha: -1), GemmShape(m: 1, n: 1, k: 300, beta: 0.5),
    ]

    /// With and without the register tiles (CPUGemm.onTiles, forwardOnTiles), on any CPU.
    @Test("Split GEMM and matrix-vector products equal the triple loop for every transpose",
          arguments: splitShapes + vectorShapes, [false, true])
    func splitGemm(base: GemmShape, tiles: Bool) throws {
        #expect(base.m * base.n * base.k >= CPUGemm.splitThreshold || Self.vectorShapes.contains(base))
        let cpu = CPUBackend(tuning: .defaults, convolutionAlgorithm: nil, gemmTiles: tiles)
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            var s = base
            s.transposeA = ta
            s.transposeB = tb
            let a = randomValues(s.aCount, seed: 41), b = randomValues(s.bCount, seed: 42), c = randomValues(s.cCount, seed: 43)
            var expected = [Float](repeating: 0, count: s.cCount)
            for i in 0..<s.m {
                for j in 0..<s.n {
                    var sum = 0.0
                    for l in 0..<s.k {
                        sum += Double(a[ta ? l * s.m + i : i * s.k + l]) * Double(b[tb ? j * s.k + l : l * s.n + j])
                    }
                    expected[i * s.n + j] = Float(Double(s.alpha) * sum + Double(s.beta) * Double(c[i * s.n + j]))
                }
            }
            let cb = try cpu.upload(c)
            try cpu.gemm(s, a: try cpu.upload(a), b: try cpu.upload(b), c: cb)
            expectClose(try cpu.read(cb), expected, rtol: 1e-4, atol: 1e-4, "split GEMM \(s), tiles \(tiles)")
        }
    }

    @Test("Fused BatchNorm + activation equals the separate primitives",
          arguments: [Activation.identity, .relu, .leakyRelu(slope: 0.2), .sigmoid, .tanh])
    func fusedBatchNorm(activation: Activation) throws {
        let cpu = CPUBackend()
        // inner 1 with more channels than one block of the row-wise loop (256).
        for layout in [ChannelLayout(outer: 5, channels: 7, inner: 33), ChannelLayout(outer: 9, channels: 300, inner: 1)] {
            let x = randomValues(layout.count, seed: 51, in: -2...3), dz = randomValues(layout.count, seed: 52)
            let gamma = randomValues(layout.channels, seed: 53, in: 0.5...1.5), beta = randomValues(layout.channels, seed: 54)
            // withBeta: the backward pass may take a ReLU-type mask from x and beta instead of z.
            func run(fused: Bool, withBeta: Bool = false) throws -> [[Float]] {
                let c = layout.channels
                let state = BatchNormState(gamma: try cpu.upload(gamma), beta: try cpu.upload(beta),
                                           runningMean: try cpu.upload(randomValues(c, seed: 55)),
                                           runningVar: try cpu.upload(randomValues(c, seed: 56, in: 0.5...2)))
                let input = try cpu.upload(x), z = try cpu.buffer(count: layout.count)
                let saved = BatchNormSaved(mean: try cpu.buffer(count: c), invStd: try cpu.buffer(count: c))
                let (dx, dg, db) = (try cpu.buffer(count: layout.count), try cpu.buffer(count: c), try cpu.buffer(count: c))
                if fused {
                    try cpu.fusedBatchNormForward(layout: layout, input: input, state: state, activation: activation, output: z, saved: saved)
                    try cpu.fusedBatchNormBackward(layout: layout, input: input, outputGradient: try cpu.upload(dz), gamma: state.gamma,
                                                   saved: saved, activation: activation, activated: z,
                                                   beta: withBeta ? state.beta : nil,
                                                   inputGradient: dx, gammaGradient: dg, betaGradient: db)
                } else {
                    try cpu.batchNormForwardByPrimitives(layout: layout, input: input, state: state, activation: activation,
                                                         output: z, saved: saved)
                    try cpu.batchNormBackwardByPrimitives(layout: layout, input: input, outputGradient: try cpu.upload(dz),
                                                          gamma: state.gamma, saved: saved, activation: activation, activated: z,
                                                          inputGradient: dx, gammaGradient: dg, betaGradient: db)
                }
                return try [z, saved.mean, saved.invStd, state.runningMean, state.runningVar, dx, dg, db].map { try cpu.read($0) }
            }
            let fused = try run(fused: true), separate = try run(fused: false)
            for (i, name) in ["z", "mean", "invstd", "running mean", "running var", "dx", "dgamma", "dbeta"].enumerated() {
                expectClose(fused[i], separate[i], rtol: 1e-5, atol: 1e-5, "BatchNorm + \(activation) \(name) over \(layout)")
            }
            // The mask recomputed from x has z's sign exactly (the forward pass's expression), so the gradients are the same bits.
            let fromX = try run(fused: true, withBeta: true)
            #expect(fromX == fused, "BatchNorm + \(activation) gradients with the mask from x over \(layout)")
        }
    }

    /// The epilogue as the two separate elementwise ops (other code than the fused loop).
    func reference(_ cpu: CPUBackend, _ layout: ChannelLayout, _ y: DeviceBuffer, _ bias: DeviceBuffer,
                   _ activation: Activation) throws {
        let biased = try cpu.buffer(count: layout.count)
        try cpu.pointwise(.biasAdd, layout: layout, operands: [y, bias, biased])
        try cpu.pointwise(.activation(activation), count: layout.count, operands: [biased, y])
    }

    @Test("Convolutions and GEMMs with an epilogue equal the plain op then the elementwise ops",
          arguments: [Activation.identity, .relu, .leakyRelu(slope: 0.2), .sigmoid, .tanh])
    func epilogues(activation: Activation) throws {
        for algorithm in CPUConvolution.Algorithm.allCases {
            let cpu = CPUBackend(convolutionChunkBytes: 4096, convolutionAlgorithm: algorithm)
            for g in Self.geometries {
                let x = try cpu.upload(randomValues(g.inputCount, seed: 61)), w = try cpu.upload(randomValues(g.weightCount, seed: 62))
                let dy = try cpu.upload(randomValues(g.outputCount, seed: 63))
                let outBias = try cpu.upload(randomValues(g.outChannels, seed: 64)), inBias = try cpu.upload(randomValues(g.inChannels, seed: 65))
                let (y, yRef) = (try cpu.buffer(count: g.outputCount), try cpu.buffer(count: g.outputCount))
                try cpu.convolutionForward(g, input: x, weight: w, output: y, epilogue: Epilogue(bias: outBias, activation: activation))
                try cpu.convolutionForward(g, input: x, weight: w, output: yRef)
                try reference(cpu, g.outputLayout, yRef, outBias, activation)
                expectClose(try cpu.read(y), try cpu.read(yRef), atol: 1e-5, "conv + bias + \(activation) \(g) \(algorithm)")

                let (dx, dxRef) = (try cpu.buffer(count: g.inputCount), try cpu.buffer(count: g.inputCount))
                try cpu.convolutionBackwardData(g, outputGradient: dy, weight: w, inputGradient: dx,
                                                epilogue: Epilogue(bias: inBias, activation: activation))
                try cpu.convolutionBackwardData(g, outputGradient: dy, weight: w, inputGradient: dxRef)
                try reference(cpu, g.inputLayout, dxRef, inBias, activation)
                expectClose(try cpu.read(dx), try cpu.read(dxRef), atol: 1e-5, "transposed conv + bias + \(activation) \(g) \(algorithm)")

                // The backward form: the data gradient times the activation's derivative at its output.
                let activated = try cpu.upload(randomValues(g.inputCount, seed: 70, in: -1...1))
                try cpu.convolutionBackwardData(g, outputGradient: dy, weight: w, inputGradient: dx,
                                                epilogue: .gradient(through: activation, activated: activated))
                try cpu.convolutionBackwardData(g, outputGradient: dy, weight: w, inputGradient: dxRef)
                try cpu.pointwise(.activationGradient(activation), count: g.inputCount, operands: [activated, dxRef, dxRef])
                expectClose(try cpu.read(dx), try cpu.read(dxRef), atol: 1e-5, "conv data gradient + \(activation) grad \(g) \(algorithm)")
            }
        }
        // The tiles apply the epilogue inside (a panel at a time; before the transpose of C^T for the
        // forward product): both paths on any CPU, with the forward products of the tiles' shapes.
        let forwardProducts = [GemmShape(m: 64, n: 1030, k: 40, transposeB: true), GemmShape(m: 144, n: 100, k: 150, transposeB: true),
                               GemmShape(m: 32, n: 19, k: 17, transposeB: true)]
        for tiles in [false, true] {
            let cpu = CPUBackend(tuning: .defaults, convolutionAlgorithm: nil, gemmTiles: tiles)
            for s in Self.splitShapes + forwardProducts + [GemmShape(m: 5, n: 7, k: 3), GemmShape(m: 5, n: 48, k: 3)] {
                let a = try cpu.upload(randomValues(s.aCount, seed: 66)), b = try cpu.upload(randomValues(s.bCount, seed: 67))
                let start = randomValues(s.cCount, seed: 68), bias = try cpu.upload(randomValues(s.n, seed: 69))
                let (c, cRef) = (try cpu.upload(start), try cpu.upload(start))
                try cpu.gemm(s, a: a, b: b, c: c, epilogue: Epilogue(bias: bias, activation: activation))
                try cpu.gemm(s, a: a, b: b, c: cRef)
                try reference(cpu, ChannelLayout(outer: s.m, channels: s.n, inner: 1), cRef, bias, activation)
                expectClose(try cpu.read(c), try cpu.read(cRef), rtol: 1e-5, atol: 1e-5, "GEMM \(s) + bias + \(activation), tiles \(tiles)")

                let activated = try cpu.upload(randomValues(s.cCount, seed: 71, in: -1...1))
                let (d, dRef) = (try cpu.upload(start), try cpu.upload(start))
                try cpu.gemm(s, a: a, b: b, c: d, epilogue: .gradient(through: activation, activated: activated))
                try cpu.gemm(s, a: a, b: b, c: dRef)
                try cpu.pointwise(.activationGradient(activation), count: s.cCount, operands: [activated, dRef, dRef])
                expectClose(try cpu.read(d), try cpu.read(dRef), rtol: 1e-5, atol: 1e-5, "GEMM \(s) + \(activation) grad, tiles \(tiles)")
            }
        }
    }
}

/// Fewer samples than cores: convolutions split within the samples.
struct SmallBatchTests {
    @Test("Batch 1 convolutions split within the sample and equal the per-sample path, every pass and epilogue")
    func batchOne() throws {
        let cpu = CPUBackend()
        // pix2pix's 64 px U-Net: a down and an up layer, and an odd one.
        let geometries = [ConvGeometry(batch: 1, inChannels: 64, height: 32, width: 32, outChannels: 128, kernel: 4, stride: 2, padding: 1),
                          ConvGeometry(batch: 1, inChannels: 37, height: 19, width: 23, outChannels: 45, kernel: 3, stride: 1, padding: 1)]
        for g in geometries {
            #expect(cpu.splitsWithinSamples(g) == (Parallel.cores > 1), "\(g) on \(Parallel.cores) cores")
            let (x, w, dy) = (try cpu.upload(randomValues(g.inputCount, seed: 1)), try cpu.upload(randomValues(g.weightCount, seed: 2)),
                              try cpu.upload(randomValues(g.outputCount, seed: 3)))
            let bias = try cpu.upload(randomValues(g.outChannels, seed: 4))
            let epilogue = Epilogue(bias: bias, activation: .leakyRelu(slope: 0.2))
            let (y, yRef) = (try cpu.buffer(count: g.outputCount), try cpu.buffer(count: g.outputCount))
            try cpu.convolutionForward(g, input: x, weight: w, output: y, epilogue: epilogue)
            cpu.convolution.forward(g, x: x.host, w: w.host, y: yRef.host, epilogue: CPUEpilogue(epilogue))
            expectClose(try cpu.read(y), try cpu.read(yRef), rtol: 1e-4, atol: 1e-4, "forward \(g)")
            let (dx, dxRef) = (try cpu.buffer(count: g.inputCount), try cpu.buffer(count: g.inputCount))
            try cpu.convolutionBackwardData(g, outputGradient: dy, weight: w, inputGradient: dx, epilogue: nil)
            cpu.convolution.backwardData(g, dy: dy.host, w: w.host, dx: dxRef.host, epilogue: .none)
            expectClose(try cpu.read(dx), try cpu.read(dxRef), rtol: 1e-4, atol: 1e-4, "data gradient \(g)")
            let start = randomValues(g.weightCount, seed: 5)
            let (dw, dwRef) = (try cpu.upload(start), try cpu.upload(start))
            try cpu.convolutionBackwardWeights(g, input: x, outputGradient: dy, weightGradient: dw, accumulate: true)
            cpu.convolution.backwardWeights(g, x: x.host, dy: dy.host, dw: dwRef.host, accumulate: true)
            expectClose(try cpu.read(dw), try cpu.read(dwRef), rtol: 1e-4, atol: 1e-3, "weight gradient (accumulated) \(g)")
        }
        let tiny = ConvGeometry(batch: 1, inChannels: 2, height: 5, width: 5, outChannels: 3, kernel: 3)
        #expect(!cpu.splitsWithinSamples(tiny), "a tiny layer stays on one core")
        #expect(!cpu.splitsWithinSamples(ConvGeometry(batch: 1, inChannels: 64, height: 70, width: 70, outChannels: 3, kernel: 7)),
                "a layer to 3 channels stays per-sample: its whole-batch columns would dwarf the product")
        #expect(!cpu.splitsWithinSamples(ConvGeometry(batch: 64, inChannels: 64, height: 14, width: 14, outChannels: 128, kernel: 4,
                                                      stride: 2, padding: 1)), "a full batch splits by samples")
    }

    @Test("Narrow convolutions (a few output pixels, large weights) equal the im2col composites, every pass and epilogue")
    func narrow() throws {
        let cpu = CPUBackend()
        // A U-Net's innermost level at batch 1 (one output pixel, odd widths), and
        // a 3x3 layer of 12 output pixels over two samples.
        let geometries = [ConvGeometry(batch: 1, inChannels: 67, height: 3, width: 3, outChannels: 63, kernel: 4, stride: 2, padding: 1),
                          ConvGeometry(batch: 2, inChannels: 80, height: 4, width: 5, outChannels: 100, kernel: 3, stride: 2, padding: 1)]
        for g in geometries {
            #expect(cpu.convolution.narrowApplies(g) && !cpu.splitsWithinSamples(g), "\(g)")
            let (x, w, dy) = (try cpu.upload(randomValues(g.inputCount, seed: 1)), try cpu.upload(randomValues(g.weightCount, seed: 2)),
                              try cpu.upload(randomValues(g.outputCount, seed: 3)))
            let epilogue = Epilogue(bias: try cpu.upload(randomValues(g.outChannels, seed: 4)), activation: .leakyRelu(slope: 0.2))
            let (y, yRef) = (try cpu.buffer(count: g.outputCount), try cpu.buffer(count: g.outputCount))
            try cpu.convolutionForward(g, input: x, weight: w, output: y, epilogue: epilogue)
            try cpu.convolutionForwardByColumns(g, input: x, weight: w, output: yRef)
            let bias = try cpu.read(epilogue.bias!), pq = g.outHeight * g.outWidth
            let expected = try cpu.read(yRef).enumerated().map { i, v in
                let z = v + bias[(i / pq) % g.outChannels]
                return z > 0 ? z : 0.2 * z
            }
            expectClose(try cpu.read(y), expected, rtol: 1e-4, atol: 1e-4, "forward + bias + leaky ReLU \(g)")
            let (dx, dxRef) = (try cpu.buffer(count: g.inputCount), try cpu.buffer(count: g.inputCount))
            try cpu.convolutionBackwardData(g, outputGradient: dy, weight: w, inputGradient: dx, epilogue: nil)
            try cpu.convolutionBackwardDataByColumns(g, outputGradient: dy, weight: w, inputGradient: dxRef)
            expectClose(try cpu.read(dx), try cpu.read(dxRef), rtol: 1e-4, atol: 1e-4, "data gradient \(g)")
            for accumulate in [false, true] {
                let start = randomValues(g.weightCount, seed: 5)
                let (dw, dwRef) = (try cpu.upload(start), try cpu.upload(start))
                try cpu.convolutionBackwardWeights(g, input: x, outputGradient: dy, weightGradient: dw, accumulate: accumulate)
                try cpu.convolutionBackwardWeightsByColumns(g, input: x, outputGradient: dy, weightGradient: dwRef, accumulate: accumulate)
                expectClose(try cpu.read(dw), try cpu.read(dwRef), rtol: 1e-4, atol: 1e-4, "weight gradient (accumulate \(accumulate)) \(g)")
            }
        }
        #expect(!cpu.convolution.narrowApplies(ConvGeometry(batch: 1, inChannels: 8, height: 3, width: 3, outChannels: 8, kernel: 4,
                                                            stride: 2, padding: 1)), "small weights stay on the general paths")
    }
}
