import CAtelier

/// Convolutions at stride 1 with at most 4 channels on one side (CycleGAN's
/// first and last 7x7 layers), all three passes computed directly along
/// output rows (cpu_conv_direct.c): as GEMMs their products are a few deep
/// or wide, and columns of 49 taps per pixel and channel cost more to build
/// than the multiply-adds. Rows, and the weight gradient's (kernels, c, r)
/// units, are split over the cores, so a batch of one keeps them all busy.
final class CPUDirectConvolution {
    /// The input with the layer's zero padding, and the flipped kernel of a
    /// data gradient, kept between calls.
    private let padded = HostScratch(), flipped = HostScratch()

    static func applies(_ g: ConvGeometry) -> Bool {
        var conv = CPULayout.geometry(g)
        return min(g.inChannels, g.outChannels) <= 4 && atelier_conv_direct_supported(&conv) != 0
            && g.padH < g.kernelHeight && g.padW < g.kernelWidth
    }

    func forward(_ g: ConvGeometry, x: UnsafeMutablePointer<Float>, w: UnsafeMutablePointer<Float>,
                 y: UnsafeMutablePointer<Float>, epilogue e: CPUEpilogue) {
        nonisolated(unsafe) let (xp, w, y) = (pad(g, x), w, y)
        var conv = CPULayout.geometry(g)
        let k = Int32(g.outChannels), units = atelier_conv_direct_rows(&conv, k)
        let unitFlops = 2 * g.inChannels * g.kernelHeight * g.kernelWidth * g.outWidth * min(6, g.outChannels)
        withUnsafePointer(to: &conv) { conv in
            nonisolated(unsafe) let conv = conv
            Parallel.forEachSlice(units, minimumSlice: max(1, (1 << 18) / unitFlops)) { r in
                atelier_conv_direct_forward(conv, k, xp, w, y, r.lowerBound, r.upperBound, e.bias, e.activation, e.parameter,
                                            e.activated)
            }
        }
    }

    /// The forward pass of dy padded by R - 1 - pad with the kernel turned
    /// half a turn and its channel axes swapped; overwrites dx, then the epilogue.
    func backwardData(_ g: ConvGeometry, dy: UnsafeMutablePointer<Float>, w: UnsafeMutablePointer<Float>,
                      dx: UnsafeMutablePointer<Float>, epilogue: CPUEpilogue) {
        var conv = CPULayout.geometry(g)
        let turned = flipped.reserve(g.weightCount)
        atelier_conv_direct_flip(&conv, Int32(g.outChannels), w, turned)
        let transposed = ConvGeometry(batch: g.batch, inChannels: g.outChannels, height: g.outHeight, width: g.outWidth,
                                      outChannels: g.inChannels, kernelHeight: g.kernelHeight, kernelWidth: g.kernelWidth,
                                      strideH: 1, strideW: 1, padH: g.kernelHeight - 1 - g.padH,
                                      padW: g.kernelWidth - 1 - g.padW)
        forward(transposed, x: dy, w: turned, y: dx, epilogue: epilogue)
    }

    /// dw = accumulate * dw + the gradient, each weight summed by one core.
    func backwardWeights(_ g: ConvGeometry, x: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         dw: UnsafeMutablePointer<Float>, accumulate: Bool) {
        nonisolated(unsafe) let (xp, dy, dw) = (pad(g, x), dy, dw)
        var conv = CPULayout.geometry(g)
        let k = Int32(g.outChannels), units = atelier_conv_direct_weight_units(&conv, k)
        let unitFlops = 2 * g.batch * g.outHeight * g.outWidth * g.kernelWidth * min(3, g.outChannels)
        let beta: Float = accumulate ? 1 : 0
        withUnsafePointer(to: &conv) { conv in
            nonisolated(unsafe) let conv = conv
            Parallel.forEachSlice(units, minimumSlice: max(1, (1 << 18) / unitFlops)) { r in
                atelier_conv_direct_weights(conv, k, xp, dy, dw, beta, r.lowerBound, r.upperBound)
            }
        }
    }

    /// x itself when the layer has no padding, else a zero-padded copy.
    private func pad(_ g: ConvGeometry, _ x: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
        guard g.padH > 0 || g.padW > 0 else { return x }
        let (rows, cols) = (g.height + 2 * g.padH, g.width + 2 * g.padW)
        nonisolated(unsafe) let (x, xp) = (x, padded.reserve(g.batch * g.inChannels * rows * cols))
        Parallel.forEachSlice(g.batch * g.inChannels * rows, minimumSlice: max(1, (1 << 14) / cols)) { r in
            atelier_conv_direct_pad(x, Int32(g.height), Int32(g.width), Int32(g.padH), Int32(g.padW), xp, r.lowerBound, r.upperBound)
        }
        return xp
    }
}
