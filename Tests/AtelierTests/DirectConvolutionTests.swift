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
        let bounds = ExactBounds(relative: 1e-6, absolute: 1e-6, typical: CPUPathTests.typicalErrorBound)
        var sums = bounds
        sums.absolute = 1e-5  // the weight gradient's sums run over every pixel
        for g in Self.geometries {
            #expect(cpu.directApplies(g), "\(g) runs directly")
            let (x, dy, exact) = try expectExactForwardAndData(cpu, g, seed: 91, bounds, "direct")
            try expectExactWeightGradients(cpu, g, x: x, dy: dy, exact: exact, start: randomValues(g.weightCount, seed: 98), sums, "direct")
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
