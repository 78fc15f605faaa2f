import Testing
import CAtelier
@testable import AtelierDevices

/// The CPU path's 3x3 stride-1 convolutions by Winograd's F(4x4, 3x3)
/// (CPUWinograd3x3) against double precision, on shapes that leave partial
/// blocks, channel counts short of whole vectors, every padding it takes,
/// and chunks of one sample, with its GEMMs on OpenBLAS and on the register
/// tiles.
struct Winograd3x3Tests {
    static let geometries: [ConvGeometry] = [
        // Partial blocks both ways (9 x 11 outputs), odd channel counts.
        ConvGeometry(batch: 3, inChannels: 17, height: 9, width: 11, outChannels: 21, kernel: 3, stride: 1, padding: 1),
        // CycleGAN's residual layer, small: reflection-padded input, no padding of its own.
        ConvGeometry(batch: 1, inChannels: 64, height: 10, width: 10, outChannels: 48, kernel: 3, stride: 1, padding: 0),
        // Padding 2: the data gradient pads by 0.
        ConvGeometry(batch: 2, inChannels: 16, height: 7, width: 5, outChannels: 33, kernel: 3, stride: 1, padding: 2),
        // A wide row: 68 blocks, more than one 8x8 transpose per packed row.
        ConvGeometry(batch: 1, inChannels: 16, height: 5, width: 270, outChannels: 16, kernel: 3, stride: 1, padding: 1),
        // Unequal paddings.
        ConvGeometry(batch: 2, inChannels: 20, height: 6, width: 9, outChannels: 16, kernelHeight: 3, kernelWidth: 3,
                     strideH: 1, strideW: 1, padH: 0, padW: 1),
    ]

    /// Root-mean-square error over the sum of the terms' magnitudes (see
    /// CPUPathTests.rmsRelativeError). F(4x4, 3x3)'s transforms multiply by
    /// up to 8 and 1/24 and add six terms a side, so it may round more than
    /// a direct sum: measured 0.6-1.1 units of rounding on these shapes; one
    /// coefficient off by 1e-4 gives 10.
    static let typicalErrorBound = 4 * Double(Float.ulpOfOne)

    @Test("Winograd F(4x4, 3x3), all three passes, matches double precision, with every epilogue",
          arguments: [1, CPUWinograd3x3.defaultChunkFloats], [true, false])
    func passes(chunkFloats: Int, onTiles: Bool) throws {
        let cpu = CPUBackend(tuning: .defaults)
        cpu.winograd3x3.chunkFloats = chunkFloats
        cpu.winograd3x3.onTiles = onTiles
        let bounds = ExactBounds(relative: 1e-5, absolute: 1e-6, typical: Self.typicalErrorBound)
        var sums = bounds
        sums.absolute = 1e-5  // the weight gradient's sums run over every pixel
        for g in Self.geometries {
            #expect(cpu.winograd3x3Applies(g), "\(g) runs by Winograd")
            let what = "Winograd 3x3, chunks of \(chunkFloats) floats, tiles \(onTiles):"
            let (x, dy, exact) = try expectExactForwardAndData(cpu, g, seed: 61, bounds, what)
            try expectExactWeightGradients(cpu, g, x: x, dy: dy, exact: exact, start: randomValues(g.weightCount, seed: 68), sums, what)
        }
    }

    @Test("Winograd F(4x4, 3x3) takes only 3x3 stride-1 layers with 16 channels both ways and padding up to 2")
    func applies() {
        let cpu = CPUBackend(tuning: .defaults)
        for other in [ConvGeometry(batch: 1, inChannels: 32, height: 8, width: 8, outChannels: 32, kernel: 3, stride: 2, padding: 1),
                      ConvGeometry(batch: 1, inChannels: 32, height: 8, width: 8, outChannels: 32, kernel: 4, stride: 1, padding: 1),
                      ConvGeometry(batch: 1, inChannels: 15, height: 8, width: 8, outChannels: 32, kernel: 3, stride: 1, padding: 1),
                      ConvGeometry(batch: 1, inChannels: 32, height: 8, width: 8, outChannels: 3, kernel: 3, stride: 1, padding: 1),
                      ConvGeometry(batch: 1, inChannels: 32, height: 8, width: 8, outChannels: 32, kernel: 3, stride: 1, padding: 3),
                      ConvGeometry(batch: 1, inChannels: 32, height: 8, width: 8, outChannels: 32, kernelHeight: 3, kernelWidth: 1,
                                   strideH: 1, strideW: 1, padH: 1, padW: 0)] {
            #expect(!cpu.winograd3x3Applies(other), "\(other) runs directly")
        }
        let g = Self.geometries[0]
        #expect(!CPUBackend(tuning: CPUTuning(winograd3x3Convolutions: false)).winograd3x3Applies(g), "switched off")
        #expect(!CPUBackend(convolutionChunkBytes: 4096, convolutionAlgorithm: .pixelMajor).winograd3x3Applies(g),
                "a forced column layout")
    }

    /// Chunks add into the weight gradient's sums in order and the cores
    /// take whole GEMMs: the same bits every time, whichever core ran what.
    @Test("Winograd F(4x4, 3x3) weight gradients do not depend on timing")
    func deterministic() throws {
        let cpu = CPUBackend(tuning: .defaults)
        cpu.winograd3x3.chunkFloats = 1
        let g = Self.geometries[0]
        let x = try cpu.upload(randomValues(g.inputCount, seed: 71)), dy = try cpu.upload(randomValues(g.outputCount, seed: 72))
        var results: [[Float]] = []
        for _ in 0..<5 {
            let dw = try cpu.buffer(count: g.weightCount)
            try cpu.convolutionBackwardWeights(g, input: x, outputGradient: dy, weightGradient: dw)
            results.append(try cpu.read(dw))
        }
        #expect(results.allSatisfy { $0 == results[0] })
    }
}
