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

    static func col2im(_ g: ConvGeometry, _ col: UnsafeMutablePointer<Float>, _ x: UnsafeMutablePointer<Float>) {
        let (c, h, w) = (g.inChannels, g.height, g.width)
        let (r, s, p, q) = (g.kernelHeight, g.kernelWidth, g.outHeight, g.outWidth)
        let npq = g.columnCols
        nonisolated(unsafe) let (src, dst) = (col, x)
        // Each output element gathers its contributions in (r, s) order, as
        // the kernel does.
        Parallel.forEachSlice(g.batch * c, minimumSlice: max(1, (1 << 14) / (h * w))) { planes in
            for plane in planes {
                let nn = plane / c, cc = plane % c
                for hh in 0..<h {
                    for ww in 0..<w {
                        var sum: Float = 0
                        for rr in 0..<r {
                            let hp = hh + g.padH - rr
                            if hp < 0 || hp % g.strideH != 0 { continue }
                            let pp = hp / g.strideH
                            if pp >= p { continue }
                            for ss in 0..<s {
                                let wq = ww + g.padW - ss
                                if wq < 0 || wq % g.strideW != 0 { continue }
                                let qq = wq / g.strideW
                                if qq >= q { continue }
                                sum += src[((cc * r + rr) * s + ss) * npq + (nn * p + pp) * q + qq]
                            }
                        }
                        dst[(plane * h + hh) * w + ww] = sum
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
