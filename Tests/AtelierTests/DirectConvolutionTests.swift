import Testing
import CAtelier
@testable import AtelierDevices

/// The CPU path's direct convolutions for layers with a few channels on one
/// side (CPUDirectConvolution) against double precision: rows that end in
/// partial vectors and strips, blocks of kernels that end part-full, padding
/// (copied) and none (read in place), every kernel width it takes.
struct DirectConvolutionTests {
    static let geometries: [ConvGeometry] = [
        // CycleGAN's first layer, small: 64 kernels are 11 blocks of 6, the last of 4; 15-wide rows.
        ConvGeometry(batch: 2, inChannels: 3, height: 13, width: 21, outChannels: 64, kernel: 7, stride: 1, padding: 0),
        // Its last layer: 34-wide rows (two vectors and a tail of 2), 3 kernels.
        ConvGeometry(batch: 1, inChannels: 64, height: 12, width: 40, outChannels: 3, kernel: 7, stride: 1, padding: 0),
        // Rows of a 64-wide strip, a vector and a tail; padding 2.
        ConvGeometry(batch: 1, inChannels: 4, height: 6, width: 79, outChannels: 4, kernel: 5, stride: 1, padding: 2),
        ConvGeometry(batch: 3, inChannels: 2, height: 9, width: 11, outChannels: 5, kernel: 3, stride: 1, padding: 1),
        ConvGeometry(batch: 2, inChannels: 7, height: 8, width: 8, outChannels: 1, kernel: 1, stride: 1, padding: 0),
        ConvGeometry(batch: 1, inChannels: 1, height: 10, width: 10, outChannels: 1, kernel: 3, stride: 1, padding: 2),
        ConvGeometry(batch: 2, inChannels: 3, height: 9, width: 18, outChannels: 8, kernelHeight: 3, kernelWidth: 5,
                     strideH: 1, strideW: 1, padH: 1, padW: 2),
    ]

    @Test("Direct convolutions, all three passes, match double precision, with every epilogue")
    func passes() throws {
        let cpu = CPUBackend(tuning: .defaults)
        for g in Self.geometries {
            #expect(cpu.directApplies(g), "\(g) runs directly")
            let (xs, ws, dys) = (randomValues(g.inputCount, seed: 91), randomValues(g.weightCount, seed: 92),
                                 randomValues(g.outputCount, seed: 93))
            let (x, w, dy) = (try cpu.upload(xs), try cpu.upload(ws), try cpu.upload(dys))
            let exact = CPUPathTests.exactConvolution(g, x: xs, w: ws, dy: dys)
            let outputBias = try cpu.upload(randomValues(g.outChannels, seed: 94))
            let inputBias = try cpu.upload(randomValues(g.inChannels, seed: 95))
            let yActivated = try cpu.upload(randomValues(g.outputCount, seed: 96, in: -0.9...0.9))
            let dxActivated = try cpu.upload(randomValues(g.inputCount, seed: 97, in: -0.9...0.9))
            let passes: [(String, (DeviceBuffer, Epilogue?) throws -> Void, [Double], [Double], ChannelLayout, [(String, Epilogue)])] = [
                ("forward", { try cpu.convolutionForward(g, input: x, weight: w, output: $0, epilogue: $1) },
                 exact.y, exact.yMagnitude, g.outputLayout,
                 [("bias + tanh", Epilogue(bias: outputBias, activation: .tanh)),
                  ("leaky_relu gradient", .gradient(through: .leakyRelu(slope: 0.2), activated: yActivated))]),
                ("data gradient", { try cpu.convolutionBackwardData(g, outputGradient: dy, weight: w, inputGradient: $0, epilogue: $1) },
                 exact.dx, exact.dxMagnitude, g.inputLayout,
                 [("bias + relu", Epilogue(bias: inputBias, activation: .relu)),
                  ("tanh gradient", .gradient(through: .tanh, activated: dxActivated))]),
            ]
            for (pass, run, values, magnitudes, layout, epilogues) in passes {
                let what = "direct \(pass) \(g)"
                let out = try cpu.upload([Float](repeating: .nan, count: values.count))
                try run(out, nil)
                let plain = try cpu.read(out)
                let errors = zip(plain, values).map { abs(Double($0) - $1) }
                let outside = zip(errors, magnitudes).filter { !($0 <= 1e-6 * $1 + 1e-6) }.count
                #expect(outside == 0, "\(what): \(outside) values beyond the error bound")
                let typical = CPUPathTests.rmsRelativeError(errors, magnitudes)
                #expect(typical <= CPUPathTests.typicalErrorBound, "\(what): root-mean-square relative error \(typical)")
                for (name, epilogue) in epilogues {
                    let (fused, ref) = (try cpu.upload([Float](repeating: .nan, count: values.count)), try cpu.upload(plain))
                    try run(fused, epilogue)
                    try cpu.applyEpilogue(epilogue, layout: layout, to: ref)
                    expectClose(try cpu.read(fused), try cpu.read(ref), rtol: 0, atol: 0, "\(what), epilogue \(name)")
                }
            }
            let start = randomValues(g.weightCount, seed: 98)
            for accumulate in [false, true] {
                let what = "direct weight gradient \(g), accumulate \(accumulate)"
                let dw = try cpu.upload(accumulate ? start : [Float](repeating: .nan, count: g.weightCount))
                try cpu.convolutionBackwardWeights(g, input: x, outputGradient: dy, weightGradient: dw, accumulate: accumulate)
                let errors = zip(zip(try cpu.read(dw), start), exact.dw).map { pair, exact in
                    abs(Double(pair.0) - (accumulate ? Double(pair.1) : 0) - exact)
                }
                let outside = zip(errors, exact.dwMagnitude).filter { !($0 <= 1e-6 * $1 + 1e-5) }.count
                #expect(outside == 0, "\(what): \(outside) values beyond the error bound")
                let typical = CPUPathTests.rmsRelativeError(errors, exact.dwMagnitude)
                #expect(typical <= CPUPathTests.typicalErrorBound, "\(what): root-mean-square relative error \(typical)")
            }
        }
    }

    @Test("Direct convolutions take only stride-1 layers with at most 4 channels on one side and kernels up to 7 wide")
    func applies() {
        let cpu = CPUBackend(tuning: .defaults)
        for other in [ConvGeometry(batch: 1, inChannels: 3, height: 16, width: 16, outChannels: 64, kernel: 4, stride: 2, padding: 1),
                      ConvGeometry(batch: 1, inChannels: 5, height: 16, width: 16, outChannels: 5, kernel: 3, stride: 1, padding: 1),
                      ConvGeometry(batch: 1, inChannels: 3, height: 16, width: 16, outChannels: 8, kernel: 9, stride: 1, padding: 4),
                      ConvGeometry(batch: 1, inChannels: 3, height: 16, width: 16, outChannels: 8, kernel: 3, stride: 1, padding: 3)] {
            #expect(!cpu.directApplies(other), "\(other) runs on the other paths")
        }
        #expect(!CPUBackend(convolutionChunkBytes: 4096, convolutionAlgorithm: .channelMajor).directApplies(Self.geometries[0]),
                "a forced column layout")
    }
}
