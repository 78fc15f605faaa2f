/// CPU versions of `Kernels/layout.cl`, same layouts, same summation order.
enum CPULayout {
    static func im2col(_ g: ConvGeometry, _ x: UnsafeMutablePointer<Float>, _ col: UnsafeMutablePointer<Float>) {
        let (n, c, h, w) = (g.batch, g.inChannels, g.height, g.width)
        let (r, s, p, q) = (g.kernelHeight, g.kernelWidth, g.outHeight, g.outWidth)
        let npq = g.columnCols
        nonisolated(unsafe) let (src, dst) = (x, col)
        Parallel.forEachSlice(g.columnRows, minimumSlice: max(1, (1 << 14) / npq)) { rows in
            for row in rows {
                let ss = row % s, rr = (row / s) % r, cc = row / (r * s)
                for nn in 0..<n {
                    for pp in 0..<p {
                        let hh = pp * g.strideH - g.padH + rr
                        let out = dst + row * npq + (nn * p + pp) * q
                        guard hh >= 0 && hh < h else {
                            out.update(repeating: 0, count: q)
                            continue
                        }
                        let line = src + ((nn * c + cc) * h + hh) * w
                        for qq in 0..<q {
                            let ww = qq * g.strideW - g.padW + ss
                            out[qq] = ww >= 0 && ww < w ? line[ww] : 0
                        }
                    }
                }
            }
        }
    }

    /// Columns back to the image, summing overlaps. Scatter-adds each column
    /// row into its image plane (contiguous, no per-element index division);
    /// threads own whole channels, so no two write the same element.
    static func col2im(_ g: ConvGeometry, _ col: UnsafeMutablePointer<Float>, _ x: UnsafeMutablePointer<Float>) {
        let (n, c, h, w) = (g.batch, g.inChannels, g.height, g.width)
        let (r, s, p, q) = (g.kernelHeight, g.kernelWidth, g.outHeight, g.outWidth)
        let npq = g.columnCols
        nonisolated(unsafe) let (src, dst) = (col, x)
        Parallel.forEachSlice(c, minimumSlice: max(1, (1 << 14) / (n * h * w * r * s))) { channels in
            for cc in channels {
                for nn in 0..<n { (dst + (nn * c + cc) * h * w).update(repeating: 0, count: h * w) }
                for rr in 0..<r {
                    for ss in 0..<s {
                        let row = src + ((cc * r + rr) * s + ss) * npq
                        // Output columns q whose w = q*stride - pad + ss falls inside the image.
                        let qFirst = max(0, (g.padW - ss + g.strideW - 1) / g.strideW)
                        let qEnd = min(q, (w - 1 + g.padW - ss) / g.strideW + 1)
                        guard qFirst < qEnd else { continue }
                        for nn in 0..<n {
                            let plane = dst + (nn * c + cc) * h * w
                            for pp in 0..<p {
                                let hh = pp * g.strideH - g.padH + rr
                                guard hh >= 0 && hh < h else { continue }
                                let line = plane + hh * w - g.padW + ss
                                let values = row + (nn * p + pp) * q
                                for qq in qFirst..<qEnd { line[qq * g.strideW] += values[qq] }
                            }
                        }
                    }
                }
            }
        }
    }

    static func swapAxes(a: Int, b: Int, inner: Int, _ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
        nonisolated(unsafe) let (src, dst) = (input, output)
        Parallel.forEachSlice(a, minimumSlice: max(1, (1 << 15) / (b * inner))) { rows in
            for i in rows {
                for j in 0..<b {
                    (dst + (j * a + i) * inner).update(from: src + (i * b + j) * inner, count: inner)
                }
            }
        }
    }
}
