import CAtelier

/// CPU versions of `Kernels/layout.cl`, same layouts. The loops live in C
/// (Sources/CAtelier/cpu_kernels.c), compiled per instruction set; here they
/// are split over the cores.
enum CPULayout {
    static func geometry(_ g: ConvGeometry) -> AtelierConv {
        AtelierConv(n: Int32(g.batch), c: Int32(g.inChannels), h: Int32(g.height), w: Int32(g.width),
                    r: Int32(g.kernelHeight), s: Int32(g.kernelWidth), stride_h: Int32(g.strideH), stride_w: Int32(g.strideW),
                    pad_h: Int32(g.padH), pad_w: Int32(g.padW), p: Int32(g.outHeight), q: Int32(g.outWidth))
    }

    static func im2col(_ g: ConvGeometry, _ x: UnsafeMutablePointer<Float>, _ col: UnsafeMutablePointer<Float>) {
        var c = geometry(g)
        nonisolated(unsafe) let (src, dst) = (x, col)
        withUnsafePointer(to: &c) { conv in
            nonisolated(unsafe) let conv = conv
            Parallel.forEachSlice(g.columnRows, minimumSlice: max(1, (1 << 14) / g.columnCols)) { rows in
                atelier_im2col(conv, src, dst, rows.lowerBound, rows.upperBound)
            }
        }
    }

    /// Columns back to the image, summing overlaps; threads own whole
    /// channels, so no two write the same element.
    static func col2im(_ g: ConvGeometry, _ col: UnsafeMutablePointer<Float>, _ x: UnsafeMutablePointer<Float>) {
        var c = geometry(g)
        nonisolated(unsafe) let (src, dst) = (col, x)
        withUnsafePointer(to: &c) { conv in
            nonisolated(unsafe) let conv = conv
            Parallel.forEachSlice(g.inChannels, minimumSlice: max(1, (1 << 14) / (g.batch * g.height * g.width * g.kernelHeight * g.kernelWidth))) { channels in
                atelier_col2im(conv, src, dst, channels.lowerBound, channels.upperBound)
            }
        }
    }

    static func swapAxes(a: Int, b: Int, inner: Int, _ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
        nonisolated(unsafe) let (src, dst) = (input, output)
        Parallel.forEachSlice(a, minimumSlice: max(1, (1 << 15) / (b * inner))) { rows in
            atelier_swap_axes(a, b, inner, src, dst, rows.lowerBound, rows.upperBound)
        }
    }
}
